# check=error=true
FROM alpine as build
