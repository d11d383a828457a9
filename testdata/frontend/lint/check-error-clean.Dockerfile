# check=error=true
FROM alpine AS build
CMD ["true"]
