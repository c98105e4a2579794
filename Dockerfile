FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip install --no-cache-dir . && useradd --system --home /app santeid \
    && mkdir -p /var/lib/santeid /run/santeid/keys && chown -R santeid /var/lib/santeid /run/santeid
USER santeid
EXPOSE 5000
CMD ["santeid", "serve", "--host", "0.0.0.0", "--port", "5000", "--workers", "2"]
