{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "binance-tool.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name for every resource. */}}
{{- define "binance-tool.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one service's resources: dict "root" $ "name" <service>. */}}
{{- define "binance-tool.componentName" -}}
{{- printf "%s-%s" (include "binance-tool.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "binance-tool.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "binance-tool.labels" -}}
helm.sh/chart: {{ include "binance-tool.chart" . }}
{{ include "binance-tool.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "binance-tool.selectorLabels" -}}
app.kubernetes.io/name: {{ include "binance-tool.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one service: dict "root" $ "name" <service>. */}}
{{- define "binance-tool.componentLabels" -}}
{{ include "binance-tool.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "binance-tool.componentSelectorLabels" -}}
{{ include "binance-tool.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "binance-tool.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "binance-tool.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "binance-tool.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "binance-tool.ddEnv" -}}
{{- default .Release.Namespace .Values.config.DD_ENV }}
{{- end }}

{{/* SIMULATOR_URL: the in-chart simulator's Service when enabled, else .Values.simulatorUrl. */}}
{{- define "binance-tool.simulatorUrl" -}}
{{- $sim := index .Values.services "exchange-simulator" | default dict }}
{{- if and $sim.enabled (dig "service" "enabled" false $sim) }}
{{- printf "http://%s:%v" (include "binance-tool.componentName" (dict "root" . "name" "exchange-simulator")) $sim.service.port }}
{{- else }}
{{- .Values.simulatorUrl }}
{{- end }}
{{- end }}

{{/* Fail early on settings that cannot work. */}}
{{- define "binance-tool.validate" -}}
{{- $exchanges := list "simulator" "binance-testnet" "binance" }}
{{- if not (has .Values.exchange $exchanges) }}
{{- fail (printf "exchange must be one of %s, got %q" (join ", " $exchanges) .Values.exchange) }}
{{- end }}
{{- if and (ne .Values.exchange "simulator") (not .Values.secrets.binance.existingSecret) }}
{{- fail (printf "exchange=%s needs secrets.binance.existingSecret (a Secret with %s and %s)" .Values.exchange .Values.secrets.binance.apiKeyKey .Values.secrets.binance.apiSecretKey) }}
{{- end }}
{{- if and (eq .Values.exchange "simulator") (not (include "binance-tool.simulatorUrl" .)) }}
{{- fail "exchange=simulator needs services.exchange-simulator.enabled=true or simulatorUrl" }}
{{- end }}
{{- if not .Values.secrets.amqp.existingSecret }}
{{- fail "secrets.amqp.existingSecret is required (a Secret holding AMQP_URL)" }}
{{- end }}
{{- if not .Values.secrets.redis.existingSecret }}
{{- fail "secrets.redis.existingSecret is required (a Secret holding REDIS_URL)" }}
{{- end }}
{{- end }}

{{/* The ConfigMap data of one service: dict "root" $ "name" <service> "svc" <values>. */}}
{{- define "binance-tool.serviceEnv" -}}
{{- $root := .root }}
{{- $env := dict }}
{{- if ne .svc.sharedEnv false }}
{{- $env = merge $env (dict
  "EXCHANGE" $root.Values.exchange
  "HEALTH_PORT" (toString $root.Values.health.port)
  "DD_ENV" (include "binance-tool.ddEnv" $root)
  "DD_SERVICE" .name
  "DD_VERSION" (default $root.Chart.AppVersion $root.Values.image.tag)
  "SENTRY_ENVIRONMENT" (default $root.Release.Namespace $root.Values.config.SENTRY_ENVIRONMENT)
) }}
{{- $sim := include "binance-tool.simulatorUrl" $root }}
{{- if $sim }}
{{- $_ := set $env "SIMULATOR_URL" $sim }}
{{- end }}
{{- range $k, $v := $root.Values.config }}
{{- if and (not (hasKey $env $k)) (ne (toString $v) "") }}
{{- $_ := set $env $k (toString $v) }}
{{- end }}
{{- end }}
{{- else }}
{{- range $k := list "LOG_LEVEL" "LOG_FORMAT" }}
{{- if hasKey $root.Values.config $k }}
{{- $_ := set $env $k (toString (index $root.Values.config $k)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $k, $v := .svc.env }}
{{- $_ := set $env $k (toString $v) }}
{{- end }}
{{- range $k := keys $env | sortAlpha }}
{{ $k }}: {{ index $env $k | quote }}
{{- end }}
{{- end }}
