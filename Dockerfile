# The server image: Node 20 (the version uWebSockets.js ships native binaries for) on Debian 12.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
# The NFT contracts, compiled once here (solc is inside the npm package) so the server finds them built.
COPY contracts ./contracts
COPY scripts/build-contracts.mjs ./scripts/build-contracts.mjs
RUN node scripts/build-contracts.mjs
ENV VEZA_HOST=0.0.0.0 VEZA_PORT=8080 VEZA_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
USER node
CMD ["node", "bin/veza.js", "serve"]
