#!/bin/sh
# embed.sh NAME FILE - prints a C file defining `const char NAME[]` holding
# FILE's bytes and a terminating NUL, so data files ship inside the binary.
set -e
name=$1
file=$2
printf '/* generated from %s by scripts/embed.sh; do not edit */\n' "$(basename "$file")"
printf 'const char %s[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/  */ /g' -e 's/^ //' -e '/^$/d' -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
printf '0x00\n};\n'
