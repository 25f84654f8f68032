// s3rver in its own process (started by s3-server.ts): argv = directory, then bucket names. Prints
// `listening <port>` once it serves. Node must run it with --openssl-legacy-provider: s3rver makes its
// ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only has in its legacy provider.
import S3rver from 's3rver'

const [directory, ...buckets] = process.argv.slice(2)
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) })
const { port } = await server.run()
process.stdout.write(`listening ${port}\n`)
process.on('SIGTERM', () => {
  server.close().then(() => process.exit(0))
})
