{{/* The name of this release's objects, at most 63 characters. */}}
{{- define "tideline-cloud.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tideline-cloud.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: cloud
{{- end -}}

{{- define "tideline-cloud.labels" -}}
{{ include "tideline-cloud.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret the chart makes from values. */}}
{{- define "tideline-cloud.secretName" -}}
{{- printf "%s-secrets" (include "tideline-cloud.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The secret settings as a JSON list of {env, value, secretName, key}: one entry
per setting that is configured, from the values (the chart's Secret, key = env
name) or from an existing Secret. Validates each: not both sources at once.
*/}}
{{- define "tideline-cloud.secretSettings" -}}
{{- $root := . -}}
{{- $out := list -}}
{{- range $item := list (list "store" "url" "TIDELINE_STATE_URL") (list "masterKey" "value" "TIDELINE_MASTER_KEY") (list "signingKey" "value" "TIDELINE_SIGNING_KEY") -}}
{{- $section := index $item 0 -}}
{{- $field := index $item 1 -}}
{{- $env := index $item 2 -}}
{{- $v := index $root.Values $section | default dict -}}
{{- $value := toString (index $v $field | default "") -}}
{{- $existing := $v.existingSecret | default dict -}}
{{- if and $value $existing.name -}}
{{- fail (printf "%s: set %s.%s or %s.existingSecret.name, not both" $section $section $field $section) -}}
{{- end -}}
{{- if $existing.name -}}
{{- $out = append $out (dict "env" $env "value" "" "secretName" $existing.name "key" ($existing.key | default $env)) -}}
{{- else if $value -}}
{{- $out = append $out (dict "env" $env "value" $value "secretName" (include "tideline-cloud.secretName" $root) "key" $env) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Stops rendering with one line naming the first value that is missing or wrong. */}}
{{- define "tideline-cloud.validate" -}}
{{- $settings := include "tideline-cloud.secretSettings" . | fromJsonArray -}}
{{- $has := dict -}}
{{- range $settings }}{{ $_ := set $has .env true }}{{ end -}}
{{- if not (hasKey $has "TIDELINE_STATE_URL") -}}
{{- fail "store.url: set the store's URL (postgres://USER:PASSWORD@HOST:5432/DATABASE), or store.existingSecret.name to a Secret holding it" -}}
{{- end -}}
{{- $url := toString (.Values.store.url | default "") -}}
{{- if $url -}}
{{- if not (regexMatch "^(postgres|postgresql)://|^sqlite:" $url) -}}
{{- fail "store.url: use a postgres:// (or postgresql://) URL, or sqlite:<file> for one replica" -}}
{{- end -}}
{{- if and (hasPrefix "sqlite:" $url) (gt (int .Values.replicaCount) 1) -}}
{{- fail "replicaCount: a SQLite store serves one replica only; use a PostgreSQL store (store.url: postgres://...) for more" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.standardExecutors.enabled (not (hasKey $has "TIDELINE_MASTER_KEY")) -}}
{{- fail "standardExecutors.enabled: the cloud's executors need the master key; set masterKey.value or masterKey.existingSecret.name" -}}
{{- end -}}
{{- end -}}
