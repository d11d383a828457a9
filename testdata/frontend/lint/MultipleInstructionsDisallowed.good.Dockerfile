FROM alpine AS base
CMD ["a"]
FROM base
CMD ["b"]
