#!/bin/bash
# usage: hf.sh cases.txt  -> prints real helmfile output per case
: "${HELMFILE:=/tmp/wheels/x1/L/helmfile/helmfile}"
cat > helmfile.yaml.gotmpl <<EOT
environments:
  default:
    values:
    - a: {b: 1, s: "str", f: 1.5, z: null, l: [1, 2, "x"], e: "", m: {}, t: true, big: 1000000, nested: {x: {w: "deep"}}}
---
releases:
- name: x
  chart: ./c
  values:
  - v.yaml.gotmpl
EOT
echo 'k: {{ tpl (readFile "case.tmpl") . | b64enc }}' > v.yaml.gotmpl
python3 - "$1" <<'PY'
import sys, subprocess, base64, re, os
cases = open(sys.argv[1], newline="").read().split("\n=====\n")
for c in cases:
    if not c.strip(): continue
    open("case.tmpl","w", newline="").write(c)
    p = subprocess.run(["/tmp/wheels/x1/L/helmfile/helmfile","build","--embed-values"], capture_output=True, text=True,
        env=dict(os.environ, PATH="/tmp/wheels/x1/L/helm:"+os.environ["PATH"], HELMFILE_UPGRADE_NOTICE_DISABLED="1"))
    out = p.stdout + p.stderr
    m = re.search(r"^  - k: (\S*)$", out, re.M)
    print("### " + c.replace("\n", "\\n"))
    if m:
        g1 = m.group(1).strip("\"\x27"); g1 = "" if g1 == "null" else g1; sys.stdout.write(base64.b64decode(g1).decode("utf-8", "replace") + "\n")
    else:
        e = out.strip().splitlines()[0] if out.strip() else "?"
        e = re.sub(r".*error calling tpl: ", "ERR: ", e)
        print(e)
PY
