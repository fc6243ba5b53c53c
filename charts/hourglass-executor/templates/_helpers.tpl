{{/*
Names, labels, the image reference and the executor configuration shared by the chart's templates.
*/}}

{{/*
Full name of the objects: fullnameOverride, else the release name when it already contains the
chart name, else "<release>-hourglass-executor". 52 characters at most: the StatefulSet adds a
revision hash to it in a pod label, which must stay within 63.
*/}}
{{- define "hourglass-executor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
Selector labels: stable for the life of a release. app.kubernetes.io/name is what the performer
NetworkPolicy admits (as the executor role's pods carry it).
*/}}
{{- define "hourglass-executor.selectorLabels" -}}
app.kubernetes.io/name: hourglass-executor
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "hourglass-executor.labels" -}}
{{ include "hourglass-executor.selectorLabels" . }}
app.kubernetes.io/component: executor
app.kubernetes.io/part-of: hourglass
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "hourglass-executor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hourglass-executor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hourglass-executor.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "hourglass-executor.secretName" -}}
{{- default (printf "%s-config" (include "hourglass-executor.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "hourglass-executor.performerNamespace" -}}
{{- default .Release.Namespace .Values.performerNamespace -}}
{{- end -}}

{{/* The management port: ports.management, or ports.grpc when it is 0 or the same (one server). */}}
{{- define "hourglass-executor.managementPort" -}}
{{- if or (eq (int .Values.ports.management) 0) (eq (int .Values.ports.management) (int .Values.ports.grpc)) -}}
{{- .Values.ports.grpc -}}
{{- else -}}
{{- .Values.ports.management -}}
{{- end -}}
{{- end -}}

{{/*
Fails when two of the executor's ports are one number (except ports.management equal to ports.grpc,
which means one server): the Service and the container would declare that port twice, which the
API server refuses, and the executor could not bind it twice (the executor role refuses the same).
*/}}
{{- define "hourglass-executor.checkPorts" -}}
{{- $grpc := int .Values.ports.grpc -}}
{{- $management := include "hourglass-executor.managementPort" . | int -}}
{{- if .Values.metrics.enabled -}}
{{- $metrics := int .Values.metrics.port -}}
{{- if eq $metrics $grpc -}}
{{- fail (printf "metrics.port %d is also ports.grpc: give the metrics port a number of its own (or set metrics.enabled: false)" $metrics) -}}
{{- end -}}
{{- if eq $metrics $management -}}
{{- fail (printf "metrics.port %d is also ports.management: give the metrics port a number of its own (ports.management may equal ports.grpc, or be 0, for one gRPC server)" $metrics) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The configuration file rendered from `config` and `chain` (when no existingSecret): the user's keys
with the ones the chart owns set from its values, and the management API's authentication on unless
`config.authentication` says otherwise. A key the chart owns is refused in `config`,
naming the value that sets it. Written as JSON (which YAML reads): Helm's toYaml leaves hex strings
such as addresses and keys unquoted, which YAML would read as numbers.
*/}}
{{- define "hourglass-executor.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $owned := dict "grpcPort" "ports.grpc" "managementServerGrpcPort" "ports.management" "storage" "persistence.enabled" "metricsPort" "metrics.port" -}}
{{- range $key, $value := $owned -}}
{{- if hasKey $config $key -}}
{{- fail (printf "config.%s is set by the chart: use the value %s instead" $key $value) -}}
{{- end -}}
{{- end -}}
{{- $kubernetes := $config.kubernetes | default dict -}}
{{- if hasKey $kubernetes "namespace" -}}
{{- fail "config.kubernetes.namespace is set by the chart: use the value performerNamespace instead" -}}
{{- end -}}
{{- if hasKey $kubernetes "inCluster" -}}
{{- fail "config.kubernetes.inCluster is set by the chart (always true in a pod): leave it out" -}}
{{- end -}}
{{- if not (and $config.operator $config.l1Chain) -}}
{{- fail "config must hold the executor configuration's operator and l1Chain sections (with the private keys), or set existingSecret to a Secret holding config.yaml" -}}
{{- end -}}
{{- if kindIs "invalid" $config.authentication -}}{{- /* not set, or null */ -}}
{{- $_ := set $config "authentication" (dict "enabled" true) -}}
{{- end -}}
{{- $_ := set $kubernetes "namespace" (include "hourglass-executor.performerNamespace" .) -}}
{{- $_ = set $kubernetes "inCluster" true -}}
{{- $_ = set $config "kubernetes" $kubernetes -}}
{{- $_ = set $config "grpcPort" (int .Values.ports.grpc) -}}
{{- $_ = set $config "managementServerGrpcPort" (int .Values.ports.management) -}}
{{- if .Values.metrics.enabled -}}
{{- $_ = set $config "metricsPort" (int .Values.metrics.port) -}}
{{- end -}}
{{- if .Values.persistence.enabled -}}
{{- $_ = set $config "storage" (dict "type" "sqlite" "sqlite" (dict "path" "/var/lib/hourglass-executor/executor.sqlite3")) -}}
{{- else -}}
{{- $_ = set $config "storage" (dict "type" "memory") -}}
{{- end -}}
{{- if .Values.chain -}}
{{- if hasKey ($config.chain | default dict) "type" -}}
{{- fail "config.chain.type is set by the chart when the value chain is given: leave it out" -}}
{{- end -}}
{{- $_ = set $config "chain" (merge (dict "type" "static" "file" "/etc/hourglass-executor/chain.yaml") ($config.chain | default dict)) -}}
{{- end -}}
{{- toPrettyJson $config -}}
{{- end -}}
