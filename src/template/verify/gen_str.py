import random, sys
random.seed(int(sys.argv[1]))
strs = ['"hello world"', '""', '"a,b,,c"', '"  padded  "', '"MixedCase_String-x"', '"ünïcödé ß"', '"line1\\nline2"', '"x"', '"aaa"', '"1.2.3"', '"http://h:80/p?q=1"', '"foo_bar baz-qux"', '"CamelCaseHTTP2Server"', '"tab\\tsep"', '"$VAR ${X}"']
ints = ['0', '1', '2', '3', '5', '-1', '-2', '10', '100']
funcs = [
 ('upper', 's'), ('lower', 's'), ('title', 's'), ('untitle', 's'), ('trim', 's'), ('trimAll', 'ss'), ('trimPrefix', 'ss'), ('trimSuffix', 'ss'),
 ('replace', 'sss'), ('contains', 'ss'), ('hasPrefix', 'ss'), ('hasSuffix', 'ss'), ('split', 'ss'), ('splitList', 'ss'), ('splitn', 'sis'),
 ('repeat', 'is'), ('substr', 'iis'), ('trunc', 'is'), ('abbrev', 'is'), ('abbrevboth', 'iis'), ('wrap', 'is'), ('wrapWith', 'iss'),
 ('indent', 'is'), ('nindent', 'is'), ('snakecase', 's'), ('camelcase', 's'), ('kebabcase', 's'), ('swapcase', 's'), ('nospace', 's'),
 ('initials', 's'), ('quote', 's'), ('squote', 's'), ('cat', 'ss'), ('b64enc', 's'), ('sha256sum', 's'), ('sha1sum', 's'), ('adler32sum', 's'),
 ('regexMatch', 'Rs'), ('regexFind', 'Rs'), ('regexFindAll', 'Rsi'), ('regexReplaceAll', 'Rss'), ('regexReplaceAllLiteral', 'Rss'), ('regexSplit', 'Rsi'),
 ('plural', 'ssi'), ('toString', 's'), ('atoi', 's'), ('len', 's'), ('sortAlpha', 'L'), ('uniq', 'L'), ('join', 'sL'), ('base', 's'), ('dir', 's'), ('ext', 's'), ('clean', 's'),
]
regexes = ['"[a-z]+"', '"(\\\\w+) (\\\\w+)"', '"^h"', '"l+"', '","', '"\\\\s+"', '"[0-9]"', '"(?i)HELLO"']
def arg(t):
    return {'s': lambda: random.choice(strs), 'i': lambda: random.choice(ints), 'R': lambda: random.choice(regexes), 'L': lambda: "(list " + " ".join(random.choice(strs) for _ in range(random.randint(0,4))) + ")"}[t]()
cases = []
for i in range(int(sys.argv[3])):
    f, sig = random.choice(funcs)
    e = f + " " + " ".join(arg(t) for t in sig)
    if random.random() < 0.3:
        f2, sig2 = random.choice([x for x in funcs if x[1].endswith('s') and len(x[1]) <= 2])
        e = "(" + e + ") | toString | " + f2 + " " + " ".join(arg(t) for t in sig2[:-1])
    cases.append("{{ " + e + " }}")
open(sys.argv[2], "w").write("\n=====\n".join(cases))
