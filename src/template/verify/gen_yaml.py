import random, sys, json
random.seed(int(sys.argv[1]))
strs = ['"a"', '""', '"yes"', '"No"', '"1.0"', '"0x1f"', '"a b"', '"a: b"', '"- x"', '"#c"', '"x #c"', '" lead"', '"trail "', '"multi\\nline"', '"multi\\nline\\n"', '"tab\\tx"', '"ü"', '"{a}"', '"[1]"', '"@x"', '"%x"', '"null"', '"~"', '"2020-01-01"', '"1:30"', '"-"', '"?"', '"a,b"', '"*"', '"&a"', '"!x"', '"|"', '">"', '"\'q\'"', '"\\"dq\\""', '"back\\\\slash"', '"=x"', '"10"', '"1e5"', '".5"', '"+1"', '"0o17"', '"Y"', '"off"', '"longword_' + 'x'*90 + '"', '"' + ' '.join(['word']*25) + '"']
scal = strs + ['1', '-1', '0', '1.5', '1e6', '100000.0', 'true', 'false', 'nil', '(add 1 1)']
keys = ['"a"', '"b"', '"key with space"', '"y"', '"on"', '"10"', '"2"', '"a10"', '"a2"', '"A"', '"_x"', '"-k"', '"k:v"', '"ä"', '"Z"', '"z1"']
def val(d):
    r = random.random()
    if d == 0 or r < 0.4:
        return random.choice(scal)
    if r < 0.7:
        n = random.randint(0, 4)
        return "(dict " + " ".join(random.choice(keys) + " " + val(d-1) for _ in range(n)) + ")"
    n = random.randint(0, 4)
    return "(list " + " ".join(val(d-1) for _ in range(n)) + ")"
cases = []
for i in range(int(sys.argv[3])):
    v = val(3)
    f = random.choice(['toYaml', 'toJson', 'toPrettyJson', 'print', 'toYaml', 'toYaml'])
    if random.random() < 0.3:
        cases.append("{{ " + v + " | toYaml | indent 2 }}")
    elif random.random() < 0.2:
        cases.append("{{ " + v + " | toYaml | fromYaml | toJson }}")
    else:
        cases.append("{{ " + f + " " + v + " }}")
open(sys.argv[2], "w").write("\n=====\n".join(cases))
