#!/usr/bin/env bash
# Redraws the PNGs of docs/diagrams/ from their sources (Graphviz and gnuplot from Debian;
# scripts/setup.sh docs installs them). The PNGs are committed; rerun after editing a source.
set -euo pipefail
cd "$(dirname "$0")"
dot -Tpng -Gdpi=110 event_path.dot -o event_path.png
gnuplot edge_level.gp
