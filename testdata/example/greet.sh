#!/bin/sh
echo "${GREETING:-hi} from @NAME@"
