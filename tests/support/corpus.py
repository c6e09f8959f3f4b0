"""A corpus of realistic manifests for compare tests: a plain directory app, a Helm chart
and a Kustomize overlay (34 objects). Cluster-scoped names carry a suffix so that tests
in one session do not collide."""

from __future__ import annotations


def shop_directory(suffix: str) -> dict[str, str]:
    """apps/shop: 28 objects of most built-in kinds, plus a CRD and its custom resource."""
    group = f"{suffix}.example.dev"
    return {
        "apps/shop/api.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api, tier: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata:
      labels: {app: api, tier: web}
    spec:
      serviceAccountName: api
      containers:
      - name: api
        image: ghcr.io/example/api:2.3.0
        args: ["--port=8080"]
        ports:
        - {name: http, containerPort: 8080}
        env:
        - {name: LOG_LEVEL, value: info}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db-credentials, key: password}}
        resources:
          requests: {cpu: "0.5", memory: 256Mi}
          limits: {cpu: "1", memory: 1Gi}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          initialDelaySeconds: 0
          periodSeconds: 5
        livenessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 10
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: api
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
spec:
  rules:
  - host: shop.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: api, port: {number: 80}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: api
spec:
  minAvailable: 1
  selector: {matchLabels: {app: api}}
""",
        "apps/shop/worker.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 2
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers:
      - name: worker
        image: ghcr.io/example/worker:1.9.0
        resources:
          requests: {cpu: 500m, memory: 1000M}
          limits: {memory: 1G}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: worker
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: Utilization, averageUtilization: 80}}
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cleanup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: cleanup, image: ghcr.io/example/cleanup:1.0.0}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: seed
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: seed, image: ghcr.io/example/seed:1.0.0}
""",
        "apps/shop/data/db.yaml": """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: postgres
        image: postgres:17.2
        ports: [{containerPort: 5432, name: pg}]
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Gi}}
---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432, name: pg}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: uploads
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
""",
        "apps/shop/data/secrets.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
type: Opaque
stringData:
  username: shop
  password: hunter2-not-real
  legacy-key: to-be-removed
---
apiVersion: v1
kind: Secret
metadata:
  name: api-token
type: Opaque
data:
  token: c2VjcmV0LXRva2Vu
""",
        "apps/shop/config.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  LOG_FORMAT: json
  FEATURE_X: "true"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: empty-config
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: feature-flags}
  data: {checkout-v2: "off"}
""",
        "apps/shop/rbac.yaml": f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: api-reader
rules:
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: api-reader
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: api-reader}}
subjects:
- {{kind: ServiceAccount, name: api}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: shop-aggregate-{suffix}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {{shop.example.dev/aggregate-to: shop-{suffix}}}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: shop-view-{suffix}
  labels: {{shop.example.dev/aggregate-to: shop-{suffix}}}
rules:
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: shop-view-{suffix}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: shop-aggregate-{suffix}}}
subjects:
- {{kind: Group, name: shop-devs, apiGroup: rbac.authorization.k8s.io}}
""",
        "apps/shop/policy.yaml": """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-ingress
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress:
  - ports: [{port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 512Mi}
    defaultRequest: {cpu: "0.1", memory: 128Mi}
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: quota
spec:
  hard: {pods: "50", requests.cpu: "20", requests.memory: 64Gi}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec:
      containers:
      - {name: agent, image: ghcr.io/example/agent:0.4.1}
""",
        "apps/shop/crd/widgets.yaml": f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
              color: {{type: string, default: blue}}
""",
        "apps/shop/crd/widget.yaml": f"""\
apiVersion: {group}/v1
kind: Widget
metadata:
  name: main
spec:
  size: 3
""",
    }


CHART = {
    "charts/shop-cache/Chart.yaml": """\
apiVersion: v2
name: shop-cache
version: 0.3.0
appVersion: "7.4"
""",
    "charts/shop-cache/values.yaml": """\
replicas: 1
image: redis:7.4
maxMemory: 256mb
""",
    "charts/shop-cache/values-prod.yaml": "replicas: 2\n",
    "charts/shop-cache/templates/all.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/name: shop-cache, app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app.kubernetes.io/instance: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app.kubernetes.io/instance: {{ .Release.Name }}}}
    spec:
      containers:
      - name: redis
        image: {{ .Values.image }}
        args: ["--maxmemory", {{ .Values.maxMemory | quote }}]
        ports: [{containerPort: 6379}]
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name }}}
  ports: [{port: 6379, targetPort: 6379}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  maxmemory: {{ .Values.maxMemory | quote }}
""",
}

KUSTOMIZE = {
    "kustomize/base/kustomization.yaml": """\
resources: [deployment.yaml, service.yaml]
configMapGenerator:
- name: frontend-config
  literals: [THEME=light]
""",
    "kustomize/base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
spec:
  replicas: 1
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      containers:
      - name: web
        image: ghcr.io/example/frontend:3.1.0
        envFrom: [{configMapRef: {name: frontend-config}}]
""",
    "kustomize/base/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: frontend
spec:
  selector: {app: frontend}
  ports: [{port: 80, targetPort: 8080}]
""",
    "kustomize/overlays/prod/kustomization.yaml": """\
resources: [../../base]
namePrefix: prod-
labels:
- pairs: {env: prod}
  includeSelectors: false
patches:
- target: {kind: Deployment, name: frontend}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 3
""",
}
