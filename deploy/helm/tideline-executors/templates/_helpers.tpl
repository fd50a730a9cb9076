{{/* The name of this release's objects, at most 63 characters. */}}
{{- define "tideline-executors.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tideline-executors.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tideline-executors.labels" -}}
{{ include "tideline-executors.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret the executors read their secret variables from. */}}
{{- define "tideline-executors.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-secrets" (include "tideline-executors.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The default gateway: global.sqlmesh.defaultGateway, else the first gateway by name. */}}
{{- define "tideline-executors.defaultGateway" -}}
{{- $gateways := .Values.global.sqlmesh.gateways | default dict -}}
{{- if not $gateways -}}
{{- fail "global.sqlmesh.gateways: configure at least one gateway with its connection (type and settings)" -}}
{{- end -}}
{{- $wanted := .Values.global.sqlmesh.defaultGateway | default "" -}}
{{- if $wanted -}}
{{- if not (hasKey $gateways $wanted) -}}
{{- fail (printf "global.sqlmesh.defaultGateway: %s is not one of global.sqlmesh.gateways (%s)" $wanted (sortAlpha (keys $gateways) | join ", ")) -}}
{{- end -}}
{{- $wanted -}}
{{- else -}}
{{- first (sortAlpha (keys $gateways)) -}}
{{- end -}}
{{- end -}}

{{/* Gateway names, the default one first, the others by name (JSON list). */}}
{{- define "tideline-executors.gatewayOrder" -}}
{{- $default := include "tideline-executors.defaultGateway" . -}}
{{- $order := list $default -}}
{{- range $name := sortAlpha (keys .Values.global.sqlmesh.gateways) -}}
{{- if ne $name $default -}}
{{- $order = append $order $name -}}
{{- end -}}
{{- end -}}
{{- toJson $order -}}
{{- end -}}

{{/*
"true" when a connection parameter belongs in the Secret: its name is listed
in secretParams, or it contains password, secret or token and is not listed
in nonSecretParams. Called with (dict "root" $ "param" NAME).
*/}}
{{- define "tideline-executors.isSecret" -}}
{{- $param := lower .param -}}
{{- $forced := false -}}
{{- range .root.Values.global.sqlmesh.secretParams -}}
{{- if eq (lower .) $param }}{{ $forced = true }}{{ end -}}
{{- end -}}
{{- $exempt := false -}}
{{- range .root.Values.global.sqlmesh.nonSecretParams -}}
{{- if eq (lower .) $param }}{{ $exempt = true }}{{ end -}}
{{- end -}}
{{- if or $forced (and (not $exempt) (regexMatch "password|secret|token" $param)) -}}true{{- end -}}
{{- end -}}

{{/* A parameter's value as an environment variable's text (an empty value as ""). */}}
{{- define "tideline-executors.envValue" -}}
{{- if kindIs "invalid" . -}}
{{- else if or (kindIs "map" .) (kindIs "slice" .) -}}
{{- toJson . -}}
{{- else if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/*
Every connection parameter as {name, value, secret}, the default gateway's
first (JSON list). Names are SQLMESH__GATEWAYS__<GATEWAY>__CONNECTION__<PARAM>.
*/}}
{{- define "tideline-executors.connectionParams" -}}
{{- $root := . -}}
{{- $out := list -}}
{{- range $gw := include "tideline-executors.gatewayOrder" . | fromJsonArray -}}
{{- $connection := (index $root.Values.global.sqlmesh.gateways $gw).connection | default dict -}}
{{- if not $connection.type -}}
{{- fail (printf "global.sqlmesh.gateways.%s.connection.type: set the gateway's engine type (duckdb, postgres)" $gw) -}}
{{- end -}}
{{- $params := prepend (without (sortAlpha (keys $connection)) "type") "type" -}}
{{- range $param := $params -}}
{{- $name := printf "SQLMESH__GATEWAYS__%s__CONNECTION__%s" (upper $gw) (upper $param) -}}
{{- $secret := include "tideline-executors.isSecret" (dict "root" $root "param" $param) -}}
{{- $value := include "tideline-executors.envValue" (index $connection $param) -}}
{{- $out = append $out (dict "name" $name "value" $value "secret" (eq $secret "true")) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Stops rendering with one line naming the first required value that is missing. */}}
{{- define "tideline-executors.validate" -}}
{{- $cloud := .Values.global.cloud -}}
{{- $_ := required "global.cloud.url: set the server's address, e.g. https://tideline.example.com" $cloud.url -}}
{{- $_ = required "global.cloud.org: set the organization" $cloud.org -}}
{{- $_ = required "global.cloud.project: set the project" $cloud.project -}}
{{- $_ = required "global.cloud.clientId: set the executor OAuth client's id" $cloud.clientId -}}
{{- $_ = include "tideline-executors.defaultGateway" . -}}
{{- end -}}
