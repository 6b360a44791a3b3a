package config

import "fmt"

// SecretWarnings returns one warning for each file that holds the client
// secret or key and that users other than its owner can read: the
// configuration file itself when client_secret is written in it,
// client_secret_file, or private_key_file.
// Each names the file. On Windows there are none: NTFS ACLs decide who
// reads a file, and docs/security.md says how to set them.
func (c *Config) SecretWarnings() []string {
	var key, path, fix string
	what := "the client secret"
	switch c.Talkdesk.SecretOrigin {
	case SecretInConfig:
		key, path = "talkdesk.client_secret", c.Path
		fix = "or take the secret out of it (${VAR} or talkdesk.client_secret_file)"
	case SecretFromFile:
		key, path = "talkdesk.client_secret_file", c.Talkdesk.ClientSecretFile
		fix = "so that only listdrop's user can read it"
	case SecretFromKeyFile:
		key, path = "talkdesk.private_key_file", c.Talkdesk.PrivateKeyFile
		fix = "so that only listdrop's user can read it"
		what = "the private key"
	}
	if path == "" {
		return nil
	}
	mode, exposed := readableByOthers(path)
	if !exposed {
		return nil
	}
	return []string{fmt.Sprintf("%s holds %s (%s) and users other than its owner can read it (mode %04o): chmod 600 %s, %s",
		path, what, key, mode, path, fix)}
}
