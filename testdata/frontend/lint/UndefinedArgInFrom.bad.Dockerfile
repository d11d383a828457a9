FROM node:${NODE_VERSION}-alpine
