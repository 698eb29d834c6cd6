import random, sys
random.seed(int(sys.argv[1]))
vals = ['1', '-42', '0', '255', '3.14159', '-0.5', '1e6', '1e-7', '100000.0', '"str"', '""', '"ü ñ"', 'true', 'false', 'nil', '(list 1 "a" 2.5)', '(dict "k" 1 "s" "v")', '(list)', '(add 1 2)', '.Values.a.z', '.Values.a.nested']
verbs = ['v','s','d','q','t','f','e','g','x','X','o','b','c','T','U','%']
cases = []
for i in range(int(sys.argv[3])):
    n = random.randint(1, 3)
    fmt = ""
    args = []
    for _ in range(n):
        flags = random.choice(['', '', '-', '+', '0', ' ', '#', '-0'])
        width = random.choice(['', '', '5', '8', '1'])
        prec = random.choice(['', '', '.2', '.0', '.5'])
        fmt += "<%" + flags + width + prec + random.choice(verbs) + ">"
        args.append(random.choice(vals))
    if random.random() < 0.1:
        args.append(random.choice(vals))
    if random.random() < 0.1 and args:
        args.pop()
    cases.append('{{ printf "' + fmt + '" ' + " ".join(args) + ' }}')
open(sys.argv[2], "w").write("\n=====\n".join(cases))
