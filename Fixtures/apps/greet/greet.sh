#!/bin/sh
# greet: says hello to each argument, with the greeting from /etc/greet/greet.conf.
set -e
GREETING=Hello
[ -r /etc/greet/greet.conf ] && . /etc/greet/greet.conf
[ "$#" -gt 0 ] || set -- world
for who in "$@"; do
	printf '%s, %s!\n' "$GREETING" "$who"
done
