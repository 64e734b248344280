#!/bin/sh
# Rebuild agent_desk/static/jssip.min.js and jssip.LICENSE.txt from the npm
# registry, exactly as pinned in tools/jssip/package-lock.json.
#
# The npm package of JsSIP ships no browser bundle (dist/ is not published),
# so this bundles its lib-es5 build (and its dependencies debug, events, ms,
# sdp-transform) into one IIFE that defines window.JsSIP, like upstream's
# browserify "standalone" build. The work happens in a temporary directory;
# nothing is installed into the checkout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
static="$here/../../agent_desk/static"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
cd "$work"
npm ci --no-audit --no-fund --ignore-scripts
version=$(node -p 'require("./node_modules/jssip/package.json").version')
esbuild_version=$(node -p 'require("./node_modules/esbuild/package.json").version')
banner="/*
 * JsSIP v$version (npm jssip@$version, lib-es5 bundled with esbuild $esbuild_version by tools/jssip/build.sh)
 * the Javascript SIP library
 * Homepage: https://jssip.net
 * License: MIT (JsSIP and the bundled debug, events, ms, sdp-transform: see jssip.LICENSE.txt)
 */"
node node_modules/esbuild/bin/esbuild node_modules/jssip/lib-es5/JsSIP.js \
  --bundle --minify --format=iife --global-name=JsSIP --platform=browser --target=es2019 \
  --legal-comments=none --banner:js="$banner" --outfile="$work/jssip.min.js"
{
  echo "Licences of agent_desk/static/jssip.min.js (JsSIP v$version and the packages bundled into it)."
  for pkg in jssip debug events ms sdp-transform; do
    dir="node_modules/$pkg"
    lic=$(ls "$dir" | grep -i -m1 '^licen[cs]e')
    echo
    echo "==== $pkg $(node -p "require('./$dir/package.json').version") ($lic) ===="
    echo
    cat "$dir/$lic"
  done
} > "$work/jssip.LICENSE.txt"
cp "$work/jssip.min.js" "$work/jssip.LICENSE.txt" "$static/"
echo "wrote $static/jssip.min.js (JsSIP $version) and jssip.LICENSE.txt"
