#!/bin/sh
# Makes the two Secrets infra/k8s/ refers to, with fresh random passwords, printing none:
#   botwerk-passwords  BOTWERK_<ROLE>_PASSWORD for each broker user `botwerk broker setup` makes
#   botwerk-keda       host: the management API URL, as botwerk-operator, that KEDA reads
#                      queue depths from (its password is the same BOTWERK_OPERATOR_PASSWORD)
# Usage: sh infra/k8s/secrets.sh [NAMESPACE]   (default botwerk; run it before `kubectl apply -k`)
# Run again, it replaces the passwords: then delete and re-apply the broker-setup Job and
# restart the roles (`kubectl -n botwerk rollout restart deployment`).
set -eu
ns="${1:-botwerk}"
pw() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }  # hex: safe inside amqp:// URLs
operator="$(pw)"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" create secret generic botwerk-passwords --dry-run=client -o yaml \
  --from-literal=BOTWERK_CORE_PASSWORD="$(pw)" \
  --from-literal=BOTWERK_WORKER_PASSWORD="$(pw)" \
  --from-literal=BOTWERK_TRAINER_PASSWORD="$(pw)" \
  --from-literal=BOTWERK_SCHEDULER_PASSWORD="$(pw)" \
  --from-literal=BOTWERK_TRANSPORT_WEB_PASSWORD="$(pw)" \
  --from-literal=BOTWERK_OPERATOR_PASSWORD="$operator" \
  | kubectl apply -f -
# KEDA runs in its own namespace: the broker's full DNS name, not the short one. The user is
# {BOTWERK_NAMESPACE}-operator (settings.yaml: botwerk).
kubectl -n "$ns" create secret generic botwerk-keda --dry-run=client -o yaml \
  --from-literal=host="http://botwerk-operator:$operator@rabbitmq.$ns.svc:15672/" \
  | kubectl apply -f -
