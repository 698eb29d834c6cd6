import re, sys
r=open(sys.argv[1]).read(); m=open(sys.argv[2]).read()
rb=re.split(r"^### .*$\n", r, flags=re.M)[1:]; mb=re.split(r"^### .*$\n", m, flags=re.M)[1:]
cs=open(sys.argv[3]).read().split("\n=====\n")
def norm_err(s):
    s=s.strip()
    if s.startswith("ERR:"):
        s=re.sub(r'^ERR: template: stringTemplate:(\d+)(:\d+)?: (executing "[^"]*" at <.*?>: )?', r'ERR:\1: ', s, flags=re.S)
        s=re.sub(r'^ERR: stringTemplate:(\d+): ', r'ERR:\1: ', s)
        s=s.split('\n')[0]
        s=re.sub(r' \(in .*\)$', '', s)
    return s
bad=0
for i,(a,b) in enumerate(zip(rb,mb)):
    a2=norm_err(a); b2=norm_err(b.rstrip().rstrip('.'))
    if a2!=b2:
        bad+=1
        if bad<=30: print(i, cs[i][:160], "\n   REAL:", a2[:220], "\n   MINE:", b2[:220])
print("mismatches", bad, "of", len(rb))
