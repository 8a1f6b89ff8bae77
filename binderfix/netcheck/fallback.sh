# netcheck's probe for pods without python3: curl, else wget, else bash's /dev/tcp.
#
# Arguments: one "id|kind|url-or-host:port|connect_timeout|read_timeout|deadline|header" per
# target; kind is http or tcp; deadline bounds the whole probe (a server answering a byte a
# second is cut off there); the header ("Name: value", may be empty) may hold one ${NAME},
# filled in from this environment (the proxy API's token never leaves the pod).
# Prints one JSON line per target saying what happened (tool, exit code, HTTP status,
# whether it connected, where a redirect points, the tool's message made JSON-safe);
# binderfix turns that into a verdict. All targets run at once. Uses sh builtins besides
# the tool, and sleep to cut wget and bash off at the deadline.

clean() {  # $1 made JSON-safe (letters, digits, a URL's marks), at most 300 characters
  s=$1 out='' n=0
  while [ -n "$s" ] && [ "$n" -lt 300 ]; do
    rest=${s#?}; c=${s%"$rest"}; s=$rest; n=$((n + 1))
    case $c in
      [A-Za-z0-9.,:/_=+@\(\)\ \?\&%#~\;\!\*-]) out=$out$c ;;
      *) out="$out " ;;
    esac
  done
  printf '%s' "$out"
}

fill() {  # sets hdr to $1 with its ${NAME} filled in; missing to NAME when it is not set
  hdr=$1 missing=''
  case $hdr in *'${'*'}'*) ;; *) return ;; esac
  pre=${hdr%%'${'*}; rest=${hdr#*'${'}; name=${rest%%'}'*}; post=${rest#*'}'}
  case $name in ''|*[!A-Za-z0-9_]*) missing=invalid; return ;; esac
  eval "val=\${$name:-}"
  [ -n "$val" ] || missing=$name
  hdr=$pre$val$post
}

capped() {  # run "$@" for at most $1 seconds, when sleep is there to count them
  secs=$1; shift
  "$@" & p=$!
  w=''
  if command -v sleep >/dev/null 2>&1; then
    (sleep "$secs" & s=$!; trap 'kill $s 2>/dev/null; exit 0' TERM; wait $s; kill -9 $p) \
      >/dev/null 2>&1 &
    w=$!
  fi
  wait $p; c=$?
  [ -n "$w" ] && kill $w 2>/dev/null
  return $c
}

location_in() {  # sets location to the value of the last "Location:" header in $1
  location=''
  while IFS= read -r line; do
    case $line in *[Ll]ocation:*) location=${line##*ocation:} ;; esac
  done <<EOF
$1
EOF
  location=${location#"${location%%[! ]*}"}; location=${location%% *}
  location=${location%"$CR"}
}
CR=$(printf '\r')

# Prints CONNECTED, the status line and any Location header; 28 if the answer stops short.
BASH_PROBE='exec 3<>"/dev/tcp/$1/$2" || exit 7
echo CONNECTED
[ "$3" = tcp ] && exit 0
printf "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: binderfix-netcheck\r\n" "$4" "$5" >&3
[ -n "$6" ] && printf "%s\r\n" "$6" >&3
printf "\r\n" >&3
IFS= read -r -t "$7" line <&3 || exit 28
echo "$line"
while IFS= read -r -t "$7" line <&3; do
  case ${line%$'"'"'\r'"'"'} in [Ll]ocation:*) echo "$line" ;; "") exit 0 ;; esac
done
exit 28'

probe() {
  t=$1
  id=${t%%|*}; t=${t#*|}; kind=${t%%|*}; t=${t#*|}; where=${t%%|*}; t=${t#*|}
  ct=${t%%|*}; t=${t#*|}; rt=${t%%|*}; t=${t#*|}; dl=${t%%|*}; header=${t#*|}
  fill "$header"
  tool=none code=0 status=null connected=null seconds=null out='' location=''
  url=$where; [ "$kind" = tcp ] && url="http://$where/"
  if [ -n "$missing" ]; then
    tool=skipped
  elif command -v curl >/dev/null 2>&1; then
    tool=curl
    out=$(curl -sS -o /dev/null \
          -w 'NETCHECK %{http_code} %{time_connect} %{time_total} %{redirect_url}' \
          --connect-timeout "$ct" --speed-limit 1 --speed-time "$rt" --max-time "$dl" \
          ${hdr:+-H "$hdr"} "$url" 2>&1 </dev/null); code=$?
    facts=${out##*NETCHECK }; out=${out%NETCHECK*}
    status=${facts%% *}; facts=${facts#* }; tconnect=${facts%% *}; facts=${facts#* }
    seconds=${facts%% *}; location=${facts#"$seconds"}; location=${location# }
    case $status in ''|000|*[!0-9]*) status=null ;; esac
    case $tconnect in *[1-9]*) connected=true ;; *) connected=false ;; esac
    case $seconds in ''|*[!0-9.]*) seconds=null ;; esac
  elif command -v wget >/dev/null 2>&1; then
    tool=wget
    case $(wget --version 2>/dev/null) in
      *'GNU Wget'*) set -- -t 1 -T "$rt" --connect-timeout="$ct" --max-redirect=0 ;;
      *) set -- -T "$dl" ;;  # busybox: it follows redirects itself, and says when they loop
    esac
    out=$(capped "$dl" wget -S -O /dev/null "$@" ${hdr:+--header="$hdr"} "$url" 2>&1 </dev/null)
    code=$?
    location_in "$out"
  elif command -v bash >/dev/null 2>&1; then
    tool=bash
    case $url in
      https://*) code=99 out='https needs curl or wget in the pod' ;;
      *)
        rest=${url#*://}; hostport=${rest%%/*}; path=/${rest#"$hostport"}; path=/${path#//}
        host=${hostport%:*}; port=${hostport##*:}; [ "$port" = "$hostport" ] && port=80
        out=$(capped "$dl" bash -c "$BASH_PROBE" bash "$host" "$port" "$kind" \
              "$path" "$hostport" "$hdr" "$rt" 2>&1 </dev/null); code=$?
        case $out in *CONNECTED*) connected=true ;; *) connected=false ;; esac
        location_in "$out"
        ;;
    esac
  fi
  printf '{"id": "%s", "tool": "%s", "code": %s, "status": %s, "connected": %s, "seconds": %s, "missing": "%s", "location": "%s", "message": "%s"}\n' \
    "$id" "$tool" "$code" "$status" "$connected" "$seconds" "$missing" "$(clean "$location")" \
    "$(clean "$out")"
}

for target in "$@"; do
  probe "$target" &
done
wait
