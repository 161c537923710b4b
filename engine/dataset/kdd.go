package dataset

// kddNames are the 41 feature columns of KDD Cup 99 and NSL-KDD, in file order.
var kddNames = [41]string{
	"duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
	"wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
	"root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
	"num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
	"srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
	"same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
	"dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
	"dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
	"dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
}

// kddVocab is the fixed vocabulary of the three categorical KDD columns (file columns
// 1, 2 and 3). It is fixed, not learned from the file, so that every KDD file (train,
// test, 10 %, full) gives the same one-hot columns in the same order and a model
// trained on one file applies to another.
var kddVocab = map[int][]string{
	1: {"icmp", "tcp", "udp"},
	2: {"IRC", "X11", "Z39_50", "aol", "auth", "bgp", "courier", "csnet_ns", "ctf",
		"daytime", "discard", "domain", "domain_u", "echo", "eco_i", "ecr_i", "efs", "exec",
		"finger", "ftp", "ftp_data", "gopher", "harvest", "hostnames", "http", "http_2784",
		"http_443", "http_8001", "imap4", "iso_tsap", "klogin", "kshell", "ldap", "link",
		"login", "mtp", "name", "netbios_dgm", "netbios_ns", "netbios_ssn", "netstat", "nnsp",
		"nntp", "ntp_u", "other", "pm_dump", "pop_2", "pop_3", "printer", "private", "red_i",
		"remote_job", "rje", "shell", "smtp", "sql_net", "ssh", "sunrpc", "supdup", "systat",
		"telnet", "tftp_u", "tim_i", "time", "urh_i", "urp_i", "uucp", "uucp_path", "vmnet",
		"whois"},
	3: {"OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH"},
}

// kddPlan returns the column plan of a KDD file with n fields: 41 features (the three
// categorical ones one-hot encoded as "protocol_type=tcp" etc.), the label, and for
// NSL-KDD a trailing difficulty level that is ignored.
func kddPlan(n int) (plan []colPlan, names []string) {
	plan = make([]colPlan, n)
	for i := range plan {
		plan[i] = colPlan{feat: -1}
	}
	for i, name := range kddNames {
		if vocab, ok := kddVocab[i]; ok {
			c := &category{name: name, base: len(names), index: make(map[string]int, len(vocab))}
			for k, v := range vocab {
				c.index[v] = k
				names = append(names, name+"="+v)
			}
			c.width = len(vocab)
			plan[i].cat = c
			continue
		}
		plan[i].feat = len(names)
		names = append(names, name)
	}
	plan[41].label = true
	plan[41].trimDot = true
	return plan, names
}
