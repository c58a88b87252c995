# The fedledger image for machines that run Docker (docker-compose.fabric.yml).
#   target "chaincode": an org's chaincode service (python -m chaincode), no torch;
#   target "agent":     a hospital's agent (fedledger agent run --config /var/fedledger/agent.yaml),
#                       with torch and Opacus, and the zk prover built from zk/.
# Dependencies come from PyPI at the versions requirements.lock pins (the same as scripts/install.sh).
FROM python:3.11-slim AS base
WORKDIR /opt/fedledger
COPY pyproject.toml README.md requirements.lock ./
COPY chaincode ./chaincode
COPY clients ./clients
COPY agent ./agent
COPY network ./network
COPY fedledger ./fedledger
ENV PYTHONUNBUFFERED=1

FROM base AS chaincode
RUN pip install --no-cache-dir -c requirements.lock ".[chaincode]"
CMD ["python", "-m", "chaincode"]

FROM golang:1.26 AS prover
WORKDIR /src
COPY zk ./zk
RUN cd zk && GOFLAGS=-mod=readonly go build -trimpath -o /out/fedledger-zk ./cmd/fedledger-zk

FROM base AS agent
COPY requirements-torch.txt ./
RUN pip install --no-cache-dir -c requirements.lock -c requirements-torch.txt ".[agent]"
COPY --from=prover /out/fedledger-zk /usr/local/bin/fedledger-zk
ENV FEDLEDGER_ZK=/usr/local/bin/fedledger-zk
ENTRYPOINT ["fedledger"]
CMD ["agent", "run", "--config", "/var/fedledger/agent.yaml"]
