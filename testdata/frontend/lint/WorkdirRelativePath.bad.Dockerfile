FROM nginx AS web
WORKDIR usr/share/nginx/html
