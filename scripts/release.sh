#!/usr/bin/env bash
# Release artifacts, the inputs of infra/terraform (artifact_url + artifact_sha256, or package_version):
#   dist/sluice                    Bun single binary (runtime bun)
#   dist/sluice-<version>.tar.gz   the project for node/deno hosts (npm ci --omit=dev on the host)
#   dist/SHA256SUMS                `sha256sum` format, names relative to dist/
# Both are built from one git commit (HEAD unless --ref), not from the working tree, so a release never
# carries uncommitted edits; the tarball is byte-for-byte reproducible for a given commit.
#
# Usage: scripts/release.sh [--no-binary] [--out-dir DIR] [--ref REF]
#   --no-binary  skip the Bun binary (tarball and SHA256SUMS only)
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

build_binary=1
out_dir=dist
ref=HEAD
while [ $# -gt 0 ]; do
  case "$1" in
    --no-binary) build_binary=0 ;;
    --out-dir) out_dir=${2:?--out-dir needs a directory}; shift ;;
    --ref) ref=${2:?--ref needs a git revision}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "release: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
git rev-parse --verify --quiet "$ref^{commit}" >/dev/null || { echo "release: $ref is not a commit" >&2; exit 1; }
commit=$(git rev-parse "$ref^{commit}")
version=$(git show "$commit:package.json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).version))')
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || { echo "release: bad version '$version' in package.json" >&2; exit 1; }
if [ "$ref" = HEAD ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "release: note: the working tree has uncommitted changes; they are NOT in the release (built from $commit)" >&2
fi

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
tarball="sluice-$version.tar.gz"
rm -f "$out_dir/$tarball" "$out_dir/SHA256SUMS"

# What a node/deno host needs to run and install: sources, entry points, lockfile, migrations, the CLI shim.
wanted=(src runtime bin drizzle package.json package-lock.json tsconfig.json deno.json README.md LICENSE)
present=()
for path in "${wanted[@]}"; do
  if git cat-file -e "$commit:$path" 2>/dev/null; then present+=("$path"); fi
done
for required in src runtime package.json package-lock.json; do
  [[ " ${present[*]} " == *" $required "* ]] || { echo "release: $required is missing in $commit" >&2; exit 1; }
done
# git archive stamps every entry with the commit time; gzip -n drops the name and time: reproducible bytes.
git archive --format=tar --prefix="sluice-$version/" "$commit" -- "${present[@]}" | gzip -n -9 >"$out_dir/$tarball"
artifacts=("$tarball")

if [ "$build_binary" = 1 ]; then
  # Compile from the same commit as the tarball: its whole tree (build scripts included) in a scratch dir,
  # with this checkout's node_modules borrowed.
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  git archive --format=tar "$commit" | tar -x -C "$stage"
  ln -s "$repo/node_modules" "$stage/node_modules"
  if [ -f "$stage/scripts/build-binary.sh" ]; then
    (cd "$stage" && bash scripts/build-binary.sh "$stage/dist/sluice")
  else
    (cd "$stage" && mkdir -p dist && npx bun build --compile runtime/bun/main.ts --outfile dist/sluice)
  fi
  install -m 0755 "$stage/dist/sluice" "$out_dir/sluice"
  artifacts=(sluice "${artifacts[@]}")
else
  rm -f "$out_dir/sluice"
fi

(cd "$out_dir" && sha256sum "${artifacts[@]}" >SHA256SUMS)
echo "release $version ($commit) in $out_dir:"
sed 's/^/  /' "$out_dir/SHA256SUMS"
