#!/bin/sh
# npm run test:native-memory: the addon's paths under valgrind memcheck. Fails on any invalid read or write,
# use of uninitialised memory in the addon, or a definite leak.
set -e
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "test:native-memory needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --suppressions=test/memory/node.supp \
  node --jitless --expose-gc test/memory/exercise.mjs
