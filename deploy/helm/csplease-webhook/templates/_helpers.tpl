{{/* The release's objects' name: the release name, with the chart's name unless it has it. */}}
{{- define "csplease-webhook.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "csplease-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "csplease-webhook.labels" -}}
{{ include "csplease-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret holding the serving certificate. */}}
{{- define "csplease-webhook.tlsSecret" -}}
{{- if and (eq .Values.certificates.mode "provided") .Values.certificates.provided.secretName -}}
{{- .Values.certificates.provided.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "csplease-webhook.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Service's DNS names, which the serving certificate carries. */}}
{{- define "csplease-webhook.dnsNames" -}}
{{- $svc := include "csplease-webhook.fullname" . -}}
- {{ $svc }}
- {{ $svc }}.{{ .Release.Namespace }}
- {{ $svc }}.{{ .Release.Namespace }}.svc
- {{ $svc }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}

{{- define "csplease-webhook.validateMode" -}}
{{- $mode := .Values.certificates.mode -}}
{{- if not (has $mode (list "self-managed" "provided" "cert-manager")) -}}
{{- fail (printf "certificates.mode must be self-managed, provided or cert-manager, not %q" $mode) -}}
{{- end -}}
{{- if and (eq $mode "provided") (not .Values.certificates.provided.caBundle) -}}
{{- fail "certificates.mode=provided needs certificates.provided.caBundle (the PEM CA of the certificate)" -}}
{{- end -}}
{{- if and (eq $mode "provided") (not .Values.certificates.provided.secretName) (not (and .Values.certificates.provided.tlsCrt .Values.certificates.provided.tlsKey)) -}}
{{- fail "certificates.mode=provided needs certificates.provided.secretName, or tlsCrt and tlsKey" -}}
{{- end -}}
{{- end -}}
