# Operate the production workload. Override on the command line, e.g.
#   make deploy OVERLAY=k8s/overlays/dev NAMESPACE=meshserve-dev
KUBECTL   ?= kubectl
OVERLAY   ?= k8s/overlays/production
NAMESPACE ?= production
APP       ?= linkerd-service-mesh-machine-learning-pi
IMAGE     ?= ghcr.io/meshserve/meshserve:dev
# kubectl logs -l follows at most this many pods at once (the HPA allows 20).
LOG_PODS  ?= 20

.PHONY: help deploy rollback status logs render validate test image

help:
	@echo "deploy    apply $(OVERLAY) and wait for the rollout (300 s)"
	@echo "rollback  undo the last rollout of deployment/$(APP)"
	@echo "status    rollout, deployment and HPA of $(APP), then its pods (wide)"
	@echo "logs      follow the logs of every $(APP) pod (last 100 lines each)"
	@echo "render    print the manifests of $(OVERLAY) (only YAML on stdout: make render > manifests.yaml)"
	@echo "validate  render every overlay and validate every object (offline)"
	@echo "test      npm test"
	@echo "image     docker build -t $(IMAGE) ."

deploy:
	$(KUBECTL) apply -k $(OVERLAY)
	$(KUBECTL) -n $(NAMESPACE) rollout status deployment/$(APP) --timeout=300s

rollback:
	$(KUBECTL) -n $(NAMESPACE) rollout undo deployment/$(APP)
	$(KUBECTL) -n $(NAMESPACE) rollout status deployment/$(APP) --timeout=300s

status:
	$(KUBECTL) -n $(NAMESPACE) rollout status deployment/$(APP) --watch=false
	$(KUBECTL) -n $(NAMESPACE) get deployment/$(APP) hpa/$(APP)
	$(KUBECTL) -n $(NAMESPACE) get pods -l app=$(APP) -o wide

logs:
	$(KUBECTL) -n $(NAMESPACE) logs -f -l app=$(APP) -c meshserve --tail=100 --prefix --max-log-requests=$(LOG_PODS)

# "@": make's echo of the command would otherwise be the first line of the YAML.
render:
	@$(KUBECTL) kustomize $(OVERLAY)

validate:
	node --import tsx --test test/k8s.test.ts test/k8s-models.test.ts

test:
	npm test

image:
	docker build -t $(IMAGE) .
