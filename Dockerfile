# One image for every Botwerk role; docker-compose.yml picks the role with `command`.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY infra infra
COPY workers workers
COPY cores cores
COPY transports transports
RUN pip install .
RUN useradd --create-home botwerk
USER botwerk
ENTRYPOINT ["botwerk"]
CMD ["--help"]
