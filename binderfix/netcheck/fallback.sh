# Probe for pods without python3: curl, else wget; coarse verdicts. Arguments: one
# "id|url|connect_timeout|read_timeout|auth" per target. Prints one JSON result per line.
for t in "$@"; do
  id=${t%%|*}; rest=${t#*|}; url=${rest%%|*}; rest=${rest#*|}; ct=${rest%%|*}; rest=${rest#*|}
  rt=${rest%%|*}; auth=${rest#*|}
  hdr=""; [ "$auth" = configproxy ] && hdr="Authorization: token $CONFIGPROXY_AUTH_TOKEN"
  if command -v curl >/dev/null 2>&1; then
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --connect-timeout "$ct" \
          --max-time "$((ct + rt))" ${hdr:+-H "$hdr"} "$url"); code=$?
    status=${out%% *}; [ "${status:-000}" = 000 ] && status=null  # curl's "no HTTP answer"
    case $code in
      0) v=ok; [ "$status" != null ] && [ "$status" -ge 400 ] && v=http-status
         [ "$auth" = configproxy ] && { [ "$status" = 401 ] || [ "$status" = 403 ]; } && v=token-rejected ;;
      6) v=dns ;; 7) v=refused ;; 28) v=timeout ;; 35|51|58|60) v=tls ;; *) v=error ;;
    esac
    d="curl exit $code"; [ "$code" = 0 ] && d="HTTP $status"
    printf '{"id": "%s", "verdict": "%s", "status": %s, "detail": "%s (shell fallback)", "latency_ms": null}\n' \
      "$id" "$v" "$status" "$d"
  elif command -v wget >/dev/null 2>&1; then
    if wget -q -O /dev/null -T "$((ct + rt))" ${hdr:+--header="$hdr"} "$url"; then v=ok; else v=error; fi
    printf '{"id": "%s", "verdict": "%s", "status": null, "detail": "wget (coarse)", "latency_ms": null}\n' "$id" "$v"
  else
    printf '{"id": "%s", "verdict": "error", "status": null, "detail": "no python3, curl or wget in the pod", "latency_ms": null}\n' "$id"
  fi
done
