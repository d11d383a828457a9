# syntax=docker/dockerfile:1
# escape=`
# check=skip=JSONArgsRecommended
FROM alpine
RUN echo one `
    two
CMD echo shell form is fine here
