#!/usr/bin/env bash
# Heavy packaging check (slow: builds the frozen app twice). Run from anywhere:
#
#   bash packaging/ci_check.sh            # on a fresh machine it installs nsis + 7zip with apt-get
#
# 1. builds the portable folder for this platform with CPU torch (clean build venv) and zips it;
# 2. runs the built app headless: the packaging check (imports, Qt offscreen, tiny generation,
#    LoRA step, multiprocessing) and the app's own --selftest;
# 3. copies the folder to a path with spaces and non-ASCII letters, runs both again there with an
#    empty HOME, and checks that everything was written inside the folder;
# 4. builds the installer payload (--torch-mode external), unpacks the torch wheel into
#    torch-runtime/ the way get_torch.bat does, and runs the check again;
# 5. compiles installer.nsi with makensis against that payload and lists it with 7zz.
#
# Environment: PYTHON (interpreter for the build venv, Python 3.11; default .venv/bin/python or
# python3), TORCH_SPEC (default torch==2.13.0), TORCH_INDEX (default pypi), KEEP=1 keeps temp dirs,
# NSIS_COMPRESSOR (default zlib; lzma = what releases use),
# REUSE=1 reuses the build venv of an earlier run (build/ci/venv) instead of making a clean one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
export QT_QPA_PLATFORM=offscreen PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONUNBUFFERED=1

PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX=${TORCH_INDEX:-pypi}
NICE=(nice -n 10)
EXE=LoRAStudio
CLI=lora-studio
DIST=$ROOT/dist/ci
WORK=$ROOT/build/ci

step() { echo; echo "=== [$(( $(date +%s) - START ))s] $*"; }
fail() { echo "ci_check: FAIL: $*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------------
step "tools"
if ! command -v makensis >/dev/null || ! command -v 7zz >/dev/null; then
  SUDO=(); [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq nsis 7zip >/dev/null
fi
makensis -VERSION
7zz i | head -n 3 | tail -n 1 || true

# A frozen app must run with nothing from the build machine: no venv, no repo on sys.path.
run_frozen() {  # run_frozen DIR LABEL [check args...]
  local dir=$1 label=$2; shift 2
  local home; home=$(mktemp -d)
  step "packaging check ($label) in: $dir"
  (cd / && env -i PATH=/usr/bin:/bin HOME="$home" QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=2 \
     LORA_STUDIO_PACKAGING_CHECK=1 "$dir/$CLI" "$@" --json "$dir/packaging-check.json") \
     || fail "packaging check ($label) failed"
  if [[ -f $ROOT/lora_studio/app/selftest.py ]]; then
    step "app --selftest ($label)"
    (cd / && env -i PATH=/usr/bin:/bin HOME="$home" QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=2 \
       timeout 600 "$dir/$CLI" --selftest) || fail "app --selftest ($label) failed"
  else
    echo "NOT RUN: app --selftest ($label): lora_studio/app/selftest.py does not exist yet"
  fi
  (cd / && env -i PATH=/usr/bin:/bin HOME="$home" "$dir/$CLI" --version) || fail "--version ($label)"
  (cd / && env -i PATH=/usr/bin:/bin HOME="$home" "$dir/$EXE" --version) || fail "GUI executable --version ($label)"
  # Portable mode: nothing may land in the (empty) home folder.
  if [[ -n $(find "$home" -mindepth 1 -print -quit) ]]; then
    find "$home" | head -20; fail "the app wrote into HOME in portable mode ($label)"
  fi
  rm -rf "$home"
}

# --- 1. portable build (torch bundled) --------------------------------------------------------
step "build portable folder (torch bundled, $TORCH_SPEC from $TORCH_INDEX)"
T0=$(date +%s)
REUSE_ARGS=(); [[ ${REUSE:-0} == 1 && -x $WORK/venv/bin/python ]] && REUSE_ARGS=(--skip-install)
"${NICE[@]}" "$PYTHON" packaging/build_portable.py "${REUSE_ARGS[@]}" --torch-index "$TORCH_INDEX" --torch-spec "$TORCH_SPEC" \
  --venv "$WORK/venv" --work "$WORK" --dist "$DIST/portable" --archive zip --windows-scripts
BUILD1=$(( $(date +%s) - T0 ))
APP=$DIST/portable/LoRAStudio
for f in "$EXE" "$CLI" _internal portable.txt README.txt LICENSE.txt THIRD-PARTY-NOTICES.txt LoRAStudio.bat \
         get_torch.bat models/checkpoints models/loras models/captioners projects outputs \
         _internal/lora_studio/resources/clip_tokenizer/vocab.json _internal/lora_studio_build.json; do
  [[ -e $APP/$f ]] || fail "portable folder lacks $f"
done
ZIP=$(ls "$DIST"/portable/LoRAStudio-*-portable.zip)
python3 - "$ZIP" <<'EOF' || fail "zip content"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for need in ("LoRAStudio/LoRAStudio", "LoRAStudio/portable.txt", "LoRAStudio/models/loras/",
             "LoRAStudio/projects/", "LoRAStudio/outputs/", "LoRAStudio/_internal/lora_studio/resources/clip_tokenizer/merges.txt"):
    assert need in names, f"zip lacks {need}"
assert not any(n.startswith("LoRAStudio/data/") for n in names), "zip contains data/"
print(f"zip ok: {len(names)} entries")
EOF

# --- 2. run it where it was built ---------------------------------------------------------------
run_frozen "$APP" "built folder" --expect-portable

# --- 3. move to a path with spaces and non-ASCII letters ---------------------------------------
BASE=$(mktemp -d)
ODD="$BASE/Пробный путь 中文/LoRA Studio"
mkdir -p "$(dirname "$ODD")"
step "copy to $ODD"
cp -a "$APP" "$ODD"
rm -rf "$ODD/data"
run_frozen "$ODD" "moved, spaces + non-ASCII" --expect-portable
[[ -d $ODD/data ]] || fail "no data/ folder inside the moved portable folder"
[[ ! -e $APP/data/packaging-check.json ]] || true

# --- 4. installer payload: torch left out, then supplied through torch-runtime/ ------------------
step "build installer payload (torch external)"
T0=$(date +%s)
"${NICE[@]}" "$PYTHON" packaging/build_portable.py --skip-install --torch-mode external --torch-index "$TORCH_INDEX" \
  --torch-spec "$TORCH_SPEC" --venv "$WORK/venv" --work "$WORK" --dist "$DIST/installer" --archive none --windows-scripts
BUILD2=$(( $(date +%s) - T0 ))
PAYLOAD=$DIST/installer/LoRAStudio
[[ ! -e $PAYLOAD/_internal/torch ]] || fail "the external-torch build still contains _internal/torch"
TRY="$BASE/payload test/LoRAStudio"
mkdir -p "$(dirname "$TRY")"
cp -a "$PAYLOAD" "$TRY"
WHEEL=$(ls "$WORK"/wheels/torch-*.whl)
step "unpack $(basename "$WHEEL") into torch-runtime/ (what get_torch.bat does)"
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$WHEEL" "$TRY/torch-runtime"
run_frozen "$TRY" "installer payload + torch-runtime" --expect-portable --expect-torch-runtime

# --- 5. installer ----------------------------------------------------------------------------------
step "makensis installer.nsi"
VERSION=$(python3 -c "import re;print(re.search(r'__version__\s*=\s*\"([^\"]+)\"',open('lora_studio/__init__.py').read()).group(1))")
SETUP=$DIST/LoRAStudio-$VERSION-ci-setup.exe
T0=$(date +%s)
# CI checks the script and the file list, not the compression: zlib is ~5x faster than the
# release's solid LZMA (NSIS_COMPRESSOR=lzma to build exactly what ships).
"${NICE[@]}" makensis -V2 "-XSetCompressor /FINAL /SOLID ${NSIS_COMPRESSOR:-zlib}" -DSRCDIR="$PAYLOAD" -DVERSION="$VERSION" -DVARIANT=ci -DAPP_EXE=$EXE \
  -DOUTFILE="$SETUP" installer.nsi
NSIS_S=$(( $(date +%s) - T0 ))
file "$SETUP" | grep -q "Nullsoft Installer" || fail "makensis did not produce an NSIS installer"
7zz l "$SETUP" > "$WORK/installer-listing.txt"
python3 - "$WORK/installer-listing.txt" <<'EOF' || fail "installer content"
import sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
names = {l[53:].strip().replace("\\", "/") for l in lines if len(l) > 53 and l[:4].isdigit()}
need = ["LoRAStudio", "lora-studio", "get_torch.bat", "LoRAStudio.bat", "portable.txt", "README.txt",
        "LICENSE.txt", "THIRD-PARTY-NOTICES.txt", "_internal/lora_studio/resources/clip_tokenizer/vocab.json",
        "_internal/lora_studio_build.json", "models/checkpoints/put_checkpoints_here.txt",
        "models/loras/put_loras_here.txt", "models/captioners/put_captioners_here.txt",
        "projects/README.txt", "outputs/README.txt"]
missing = [n for n in need if n not in names]
assert not missing, f"installer lacks {missing}"
bad = [n for n in names if n.startswith(("data/", "torch-runtime/", "_internal/torch/"))]
assert not bad, f"installer contains {bad[:5]}"
assert any(n.startswith("_internal/PySide6/") for n in names), "no Qt in the installer"
print(f"installer ok: {len(names)} files")
EOF
grep -E "^[0-9-]+ .* files" "$WORK/installer-listing.txt" | tail -1 || tail -3 "$WORK/installer-listing.txt"

step "summary"
du -sh "$APP" "$PAYLOAD" | sed 's/^/size  /'
ls -l "$ZIP" "$SETUP" | awk '{printf "file  %6.0f MiB  %s\n", $5/1048576, $9}'
echo "build (bundled) ${BUILD1}s, build (external) ${BUILD2}s, makensis ${NSIS_S}s, total $(( $(date +%s) - START ))s"
[[ ${KEEP:-0} == 1 ]] || rm -rf "$BASE"
echo "ci_check: OK"
