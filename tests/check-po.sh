#!/usr/bin/env bash
# check-po.sh: every language in po/LINGUAS compiles (msgfmt --check) and translates every
# string the sources have now: a fresh template is extracted with the same xgettext options
# as i18n.gettext(preset: 'glib'), merged into the .po, and must leave nothing untranslated
# or fuzzy. Prints TAP. Usage: check-po.sh [SOURCE_ROOT]
set -u
src=${1:-${BOTTEGA_SOURCE_ROOT:?}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); echo "not ok $n - $1"; shift; printf '# %s\n' "$@"; failed=1; }

cd "$src"
if ! xgettext --package-name=bottega --output="$tmp/bottega.pot" --files-from=<(grep -v '^#' po/POTFILES.in | grep -v '^$') \
    --from-code=UTF-8 --add-comments \
    --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 --keyword=g_dcgettext:2 \
    --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
    --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
    --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
    --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
    --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
    --flag=g_markup_printf_escaped:1:c-format --flag=g_printerr:1:c-format \
    --flag=g_print:1:c-format 2>"$tmp/xgettext.err"; then
  not_ok "xgettext extracts the template" "$(cat "$tmp/xgettext.err")"
  echo "1..$n"; exit 1
fi
ok "xgettext extracts the template ($(grep -c '^msgid ' "$tmp/bottega.pot") strings)"

for lang in $(grep -v '^#' po/LINGUAS); do
  po="po/$lang.po"
  if [ ! -f "$po" ]; then
    not_ok "$po exists"
    continue
  fi
  if stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$po" 2>&1); then
    ok "$po compiles with msgfmt --check"
  else
    not_ok "$po compiles with msgfmt --check" "$stats"
  fi
  msgmerge --quiet --output-file="$tmp/$lang.po" "$po" "$tmp/bottega.pot" 2>/dev/null
  stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$tmp/$lang.po" 2>&1)
  if echo "$stats" | grep -qE 'untranslated|fuzzy'; then
    not_ok "$po translates every string ($stats)" "first untranslated or fuzzy strings:"
    { LC_ALL=C msgattrib --untranslated --no-wrap "$tmp/$lang.po"
      LC_ALL=C msgattrib --only-fuzzy --no-wrap "$tmp/$lang.po"; } 2>/dev/null \
      | grep '^msgid "..*"' | head -40 | sed 's/^/# /'
  else
    ok "$po translates every string ($stats)"
  fi
done

echo "1..$n"
exit $failed
