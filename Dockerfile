FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY aggregator ./aggregator
RUN pip install --no-cache-dir .
COPY config ./config

RUN useradd --create-home aggregator && mkdir -p /app/data && chown aggregator /app/data
USER aggregator
EXPOSE 8080
CMD ["aggregator", "run", "--host", "0.0.0.0", "--port", "8080"]
