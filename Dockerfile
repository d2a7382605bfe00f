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
# The installed package: the command line and the links botwerk/<folder> -> ../<folder>.
COPY botwerk botwerk
# torch's CPU build first, so `pip install .` finds torch==2.13.0 satisfied and pulls no CUDA.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
RUN pip install '.[all]'  # with every platform bridge's SDK
RUN useradd --create-home botwerk && mkdir /models && chown botwerk /models
USER botwerk
ENV BOTWERK_MODELS=file:///models
ENTRYPOINT ["botwerk"]
CMD ["--help"]
