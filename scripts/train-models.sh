#!/bin/sh
# Rebuilds the shipped models in models/ (npm run models). Same code, data and seed → the same bytes.
#  - syscalls-adfa.onnx: ADFA-LD normal traces from ../shared/data/adfa-ld (or $HV_SHARED_DATA/adfa-ld),
#    trained on Training_Data_Master, calibrated on half of Validation_Data_Master, FPR measured on the
#    other half (context 16, hidden 128: the defaults, chosen by bench/anomaly-select.ts);
#  - flows-lab.onnx: the benign lab recording committed in test/fixtures/flows/lab.
# Then, where ADFA-LD's development attacks are present, the evaluation table of docs/anomaly.md.
set -eu
cd "$(dirname "$0")/.."
shared="${HV_SHARED_DATA:-../shared/data}"
adfa="$shared/adfa-ld"
if [ -d "$adfa/Training_Data_Master" ]; then
  node bin/hv.js model train --kind syscalls --traces "$adfa/Training_Data_Master" \
    --calibrate "$adfa/Validation_Data_Master" --fpr 0.01 --seed 1 --out models/syscalls-adfa.onnx --json
  if [ -d "$adfa/Attack_Data_Dev" ]; then
    node bin/hv.js model eval --model models/syscalls-adfa.onnx --train "$adfa/Training_Data_Master" \
      --normal "$adfa/Validation_Data_Master" --attack "$adfa/Attack_Data_Dev"
  fi
else
  echo "skipped syscalls-adfa.onnx: $adfa not found (ADFA-LD is not redistributed with hv)" >&2
fi
lab=test/fixtures/flows/lab
node bin/hv.js model train --kind flows --flows "$lab/lab-benign.conntrack.log" --inventory "$lab/lab.inventory.json" \
  --fpr 0.05 --seed 1 --out models/flows-lab.onnx --json
node bin/hv.js model eval --model models/flows-lab.onnx --flows "$lab/lab.conntrack.log" --inventory "$lab/lab.inventory.json" \
  --truth "$lab/lab.truth.json"
