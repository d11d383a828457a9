# check=skip=StageNameCasing,FromAsCasing
FROM alpine as Build
# check=skip=MaintainerDeprecated
MAINTAINER me
MAINTAINER again
