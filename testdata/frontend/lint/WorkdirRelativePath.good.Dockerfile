FROM nginx AS web
WORKDIR /usr/share
WORKDIR nginx/html
