# santeid's sandbox in one container: `docker build -t santeid .` then
# `docker run -p 5000:5000 santeid` serves http://localhost:5000/ in sandbox mode with the demo
# directory, dev keys and a small INSi civil-status base (docs/sandbox.md#container).
# For a deployment, override the command and the environment (compose.yaml, docs/configuration.md).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
COPY docs/ecps-device-openapi.yaml ./docs/
RUN pip install --no-cache-dir . && useradd --system --home /app santeid \
    && mkdir -p /var/lib/santeid /run/santeid/keys /opt/santeid \
    && SANTEID_SANDBOX=true SANTEID_DATA_DIR=/opt/santeid \
       santeid civil generate --persons 2000 --seed 1 \
    && chown -R santeid /var/lib/santeid /run/santeid
ENV SANTEID_SANDBOX=true \
    SANTEID_ISSUER=http://localhost:5000/auth/realms/esante-wallet \
    SANTEID_DATA_DIR=/var/lib/santeid \
    SANTEID_KEYS_DIR=/run/santeid/keys \
    SANTEID_INSI_BASE=/opt/santeid/civil-status.sqlite3
USER santeid
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health')"]
# One process, embedded store: sandbox, demo data, one port.
CMD ["santeid", "serve", "--sandbox", "--host", "0.0.0.0", "--port", "5000"]
