{{/*
Names, labels and the image reference shared by the chart's templates.
*/}}

{{/*
Full name of the objects: fullnameOverride, else the release name when it already contains the
chart name, else "<release>-hourglass-operator". 52 characters at most so that "<fullname>-metrics"
is still a valid Service name.
*/}}
{{- define "hourglass-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
Selector labels: stable for the life of a release (a Deployment's selector cannot change).
*/}}
{{- define "hourglass-operator.selectorLabels" -}}
app.kubernetes.io/name: hourglass-operator
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/*
Labels on every object of the chart.
*/}}
{{- define "hourglass-operator.labels" -}}
{{ include "hourglass-operator.selectorLabels" . }}
app.kubernetes.io/part-of: hourglass
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "hourglass-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hourglass-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The operator image: repository@digest when a digest is given, else repository:tag (tag defaults to
the chart's appVersion).
*/}}
{{- define "hourglass-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The rules the operator needs on the namespaced objects it reconciles, shared by the ClusterRole
(all namespaces) and the per-namespace Roles (watchNamespaces). They match config/rbac/role.yaml (which traces every verb to its caller).
*/}}
{{- define "hourglass-operator.rules" -}}
- apiGroups: ["hourglass.eigenlayer.io"]
  resources: ["performers"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["hourglass.eigenlayer.io"]
  resources: ["performers/status"]
  verbs: ["patch"]
- apiGroups: ["hourglass.eigenlayer.io"]
  resources: ["performers/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["resourcequotas"]
  verbs: ["list", "watch"]
{{- end -}}

{{/*
The one cluster-scoped rule: reading the node of a performer pod stuck terminating past its deadline,
before deleting the pod without its kubelet (the role's performer_lost_pod_after_seconds).
*/}}
{{- define "hourglass-operator.nodeRules" -}}
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get"]
{{- end -}}

{{/*
A number as the operator's environment reads it: Helm reads every number of a values file as a
float, and prints one of a million or more as "1e+06", which no integer flag takes. A whole number
prints as an integer; another number or a string ("25%") as it is.
*/}}
{{- define "hourglass-operator.number" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/*
ROLE_VARS as JSON, or nothing: `roleVars`, and, unless the chart grants `get nodes` (`rbac.create`
and `rbac.readNodes`), the lost-pod recovery turned off (performer_lost_pod_after_seconds: 0) unless
roleVars set it: it reads the pod's node first, and the operator checks that permission at start.
*/}}
{{- define "hourglass-operator.roleVars" -}}
{{- $vars := deepCopy (.Values.roleVars | default dict) -}}
{{- if and (not (and .Values.rbac.create .Values.rbac.readNodes)) (not (hasKey $vars "performer_lost_pod_after_seconds")) -}}
{{- $_ := set $vars "performer_lost_pod_after_seconds" 0 -}}
{{- end -}}
{{- if $vars -}}
{{- toJson $vars -}}
{{- end -}}
{{- end -}}
