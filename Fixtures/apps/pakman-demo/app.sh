#!/bin/sh
# pakman-demo: a PAKman-style app (the real ones are Rails/Phoenix releases).
case "${1:-}" in
serve)
	while :; do
		echo "pakman-demo serving (${SERVICE_MODE:-web})"
		sleep 10
	done
	;;
migrate)
	echo "pakman-demo: migrations done"
	;;
*)
	echo "pakman-demo: usage: pakman-demo serve|migrate" >&2
	exit 2
	;;
esac
