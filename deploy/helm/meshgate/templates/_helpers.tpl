{{/* Object name: the release name, or "<release>-meshgate" when it does not say meshgate. */}}
{{- define "meshgate.fullname" -}}
{{- if contains "meshgate" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-meshgate" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object: the gateway labels plus Helm's bookkeeping. */}}
{{- define "meshgate.labels" -}}
{{ toYaml .Values.labels }}
app.kubernetes.io/name: meshgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Gateway server port → container port pairs for --port-map, e.g. 80=8080,443=8443. */}}
{{- define "meshgate.portMap" -}}
{{- $pairs := list -}}
{{- range .Values.service.ports -}}
{{- if and (ne .name "status-port") (ne (int .port) (int .targetPort)) -}}
{{- $pairs = append $pairs (printf "%d=%d" (int .port) (int .targetPort)) -}}
{{- end -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* A label map as k=v,k2=v2 (sorted), for --gateway-labels. */}}
{{- define "meshgate.pairs" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
