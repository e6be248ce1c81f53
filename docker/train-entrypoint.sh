#!/bin/sh
# Entrypoint of the training image: runs `ser-train "$@"`, but first says in one line what to
# do when the output directory (--out) is not writable by the container's user, instead of a
# traceback at the end of a long run. Typical cause: ./models belongs to your host user while
# the container runs as uid 10001; run it as yourself with SER_TRAIN_USER="$(id -u):$(id -g)".
out=""
previous=""
for arg in "$@"; do
    case "$arg" in
        --out=*) out="${arg#--out=}" ;;
        *) [ "$previous" = "--out" ] && out="$arg" ;;
    esac
    previous="$arg"
done
if [ -n "$out" ] && [ -d "$out" ] && [ ! -w "$out" ]; then
    echo "ser-train: cannot write to $out as uid $(id -u): run the container as the owner of" \
        "the mounted directory (compose: SER_TRAIN_USER=\"\$(id -u):\$(id -g)\"; docker run:" \
        "--user \"\$(id -u):\$(id -g)\") or make it writable" >&2
    exit 2
fi
exec ser-train "$@"
