FROM alpine
CMD ["a"]
CMD ["b"]
