// Package integration tests listdrop's uploads against a real S3 server,
// versitygw, which checks SigV4 signatures, Content-MD5 digests and the
// expiry of presigned URLs. The signed URLs are made by the AWS SDK's
// presign client, as Talkdesk's storage makes them.
//
// It is a module of its own so that the SDK stays out of the product's
// go.mod. run.sh installs versitygw and runs the tests; without it (no
// VERSITYGW in the environment) every test is skipped and says why.
package integration
