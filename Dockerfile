FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY codegen_mcp ./codegen_mcp
COPY workers ./workers
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" \
    CODEGEN_MCP_DATA_DIR=/data
RUN mkdir -p /data && useradd --system --home /data app && chown app /data
USER app
CMD ["codegen-mcp", "web"]
