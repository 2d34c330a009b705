#!/bin/sh
# Builds {{wasm}} from app.py with componentize-py (`pip install -r requirements.txt`).
# COMPONENTIZE_PY names another componentize-py executable.
set -eu
cd "$(dirname "$0")"
COMPONENTIZE_PY="${COMPONENTIZE_PY:-componentize-py}"
# Python bindings of the WIT world, for editors and type checkers (the build makes its own).
"$COMPONENTIZE_PY" -d wit -w handler bindings .
"$COMPONENTIZE_PY" -d wit -w handler componentize app -o {{wasm}}
