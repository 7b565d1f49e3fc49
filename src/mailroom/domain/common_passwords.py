"""The passwords people choose most often, refused as new passwords whatever their case.

Written for Mailroom from the lists of most-used passwords published after large leaks (digit runs,
keyboard walks, names and words with the usual endings). Only those of 8 characters or more are
kept: shorter ones are refused by the length rule already.
"""

from __future__ import annotations

from functools import cache

WORDS = """
12345678 123456789 1234567890 12345678910 123123123 987654321 9876543210 11111111 111111111
1111111111 00000000 000000000 0000000000 22222222 33333333 44444444 55555555 66666666 77777777
88888888 99999999 12341234 11223344 12121212 13131313 01234567 0123456789 87654321 1q2w3e4r
1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx 1qaz2wsx3edc zaq12wsx zaq1zaq1 qwertyui qwertyuiop qwerty123
qwerty1234 qwerty12 qwertyuiop123 asdfghjk asdfghjkl asdf1234 asdfasdf zxcvbnm1 zxcvbnm123
qazwsxedc qazwsx123 1234qwer qwer1234 abcd1234 abc12345 abcdefgh abcdefg1 a1b2c3d4 a1234567
aa123456 aaaaaaaa abcabcabc password password1 password12 password123 password1234 passw0rd
p@ssw0rd p@ssword pa55word pa55w0rd passpass passwort motdepasse contraseña contrasena iloveyou
iloveyou1 iloveyou2 iloveu123 letmein1 letmein123 trustno1 welcome1 welcome123 welcome12
sunshine sunshine1 princess princess1 football football1 baseball baseball1 basketball superman
superman1 batman123 starwars starwars1 whatever whatever1 dragon123 monkey123 master123
shadow123 michael1 jennifer jordan23 jessica1 charlie1 freedom1 computer computer1 internet
samsung1 iloveyou! changeme changeme1 changeme123 administrator admin123 admin1234 adminadmin
root1234 rootroot test1234 test12345 testtest guest123 qwerty123456 123qweasd 123qweasdzxc
qweasdzxc qweasd123 1234abcd 12345qwert 12345abc 123456abc 123456aa 123456qwerty 12345678a
123456789a a123456789 q1w2e3r4 q1w2e3r4t5 q1w2e3r4t5y6 1a2b3c4d 123abc123 loveyou1 lovelove
1234567a 7777777a iloveyou123 football123 hello123 hello1234 helloworld hellokitty michelle
jonathan nicholas christopher alexander elizabeth victoria danielle stephanie samantha benjamin
patricia william1 anthony1 matthew1 andrew12 midnight blink182 liverpool chelsea1 arsenal1
manchester barcelona juventus spiderman pokemon1 minecraft fortnite playstation nintendo
starcraft warcraft zaq1xsw2 mustang1 corvette ferrari1 mercedes porsche1 chocolate chocolate1
butterfly butterfly1 sweetheart sweetpea flower123 rainbow1 cookie123 cheese123 pepper123
orange123 banana123 apple123 summer123 summer2020 summer2021 summer2022 summer2023 summer2024
winter2020 winter2021 winter2022 winter2023 winter2024 spring2023 spring2024 autumn2023
password2020 password2021 password2022 password2023 password2024 password2025 welcome2023
welcome2024 qwerty2024 123456789q 1234567q zxcvbnma zxcvbnml asdfqwer qwerasdf poiuytrewq
0987654321 lkjhgfdsa mnbvcxz1 1234rewq thomas123 robert123 daniel123 george123 joshua123
ashley123 hunter123 hunter22 buster123 ginger123 tigger123 soccer123 hockey123 killer123
jordan123 harley123 ranger123 dakota123 access14 access123 letmein! welcome! monkey12 dragon12
master12 shadow12 abc123456 qwe123456 qwe12345 123qwe123 1q2w3e4r5 aaaaaa11 zzzzzzzz xxxxxxxx
qqqqqqqq asdasdasd qweqweqwe 123321123 12344321 1234554321 147258369 159753456 741852963
963852741 123654789 147852369 258456852 789456123 456123789 1597532486 zxczxczxc asd123456
wpq123456 woaini1314 woaini520 5201314520 1314520520 aini1314 iloveyou520 qq123456 qq123456789
abc123abc abcd12345 admin888 admin666 88889999 666666666 888888888 168168168 520520520 111222333
123456123 112233445 aa12345678 zz123456 a12345678 qaz123456 qwertyu1 qwert123 computer123
internet1 dragonball naruto123 sasuke123 onepiece sakura123 doraemon hellohello iloveyou1314
trustme1 secret123 secret12 mypassword mypassword1 yourpassword nopassword newpassword newpass1
oldpassword password01 password00 password99 pass1234 pass12345 pass123456 passwd12 passw0rd1
password! password1! passwordpassword letmeinnow opensesame abracadabra 11112222 12312312
1234512345 123456654321 1qazxsw2 2wsx3edc 3edc4rfv 1qaz@wsx !qaz2wsx qwerty!@ qwerty12345
asdfgh12 asdfghjkl1 zxcvbnm12 iloveyou12 loveyou123 baby1234 babygirl1 babygirl12 angel123
angela12 lovely123 beautiful princesa mariposa teamo123 estrella password12345 password123!
welcome1234 welcome12345 welcome1! welcome123! welcome01 letmein12 letmein1234 letmein12345
letmein1! letmein123! letmein01 letmein2023 letmein2024 monkey1234 monkey12345 monkey1!
monkey123! monkey01 monkey2023 monkey2024 dragon1234 dragon12345 dragon1! dragon123! dragon01
dragon2023 dragon2024 master1234 master12345 master1! master123! master01 master2023 master2024
shadow1234 shadow12345 shadow1! shadow123! shadow01 shadow2023 shadow2024 sunshine12 sunshine123
sunshine1234 sunshine12345 sunshine! sunshine1! sunshine123! sunshine01 sunshine2023
sunshine2024 princess12 princess123 princess1234 princess12345 princess! princess1! princess123!
princess01 princess2023 princess2024 football12 football1234 football12345 football! football1!
football123! football01 football2023 football2024 baseball12 baseball123 baseball1234
baseball12345 baseball! baseball1! baseball123! baseball01 baseball2023 baseball2024 superman12
superman123 superman1234 superman12345 superman! superman1! superman123! superman01 superman2023
superman2024 batman12 batman1234 batman12345 batman1! batman123! batman01 batman2023 batman2024
iloveyou1234 iloveyou12345 iloveyou1! iloveyou123! iloveyou01 iloveyou2023 iloveyou2024
trustno11 trustno112 trustno1123 trustno11234 trustno112345 trustno1! trustno11! trustno1123!
trustno101 trustno12023 trustno12024 qwerty1! qwerty123! qwerty01 qwerty2023 abc12312 abc123123
abc1231234 abc12312345 abc1231! abc123123! abc12301 abc1232023 abc1232024 admin12345 admin123!
admin2023 admin2024 login123 login1234 login12345 login123! login2023 login2024 hello12345
hello123! hello2023 hello2024 freedom12 freedom123 freedom1234 freedom12345 freedom! freedom1!
freedom123! freedom01 freedom2023 freedom2024 whatever12 whatever123 whatever1234 whatever12345
whatever! whatever1! whatever123! whatever01 whatever2023 whatever2024 charlie12 charlie123
charlie1234 charlie12345 charlie! charlie1! charlie123! charlie01 charlie2023 charlie2024
michael12 michael123 michael1234 michael12345 michael! michael1! michael123! michael01
michael2023 michael2024 jordan12 jordan1234 jordan12345 jordan1! jordan123! jordan01 jordan2023
jordan2024 jessica12 jessica123 jessica1234 jessica12345 jessica! jessica1! jessica123!
jessica01 jessica2023 jessica2024 ashley12 ashley1234 ashley12345 ashley1! ashley123! ashley01
ashley2023 ashley2024 bailey12 bailey123 bailey1234 bailey12345 bailey1! bailey123! bailey01
bailey2023 bailey2024 passw0rd12 passw0rd123 passw0rd1234 passw0rd12345 passw0rd! passw0rd1!
passw0rd123! passw0rd01 passw0rd2023 passw0rd2024 pokemon12 pokemon123 pokemon1234 pokemon12345
pokemon! pokemon1! pokemon123! pokemon01 pokemon2023 pokemon2024 starwars12 starwars123
starwars1234 starwars12345 starwars! starwars1! starwars123! starwars01 starwars2023
starwars2024 flower12 flower1234 flower12345 flower1! flower123! flower01 flower2023 flower2024
cookie12 cookie1234 cookie12345 cookie1! cookie123! cookie01 cookie2023 cookie2024 cheese12
cheese1234 cheese12345 cheese1! cheese123! cheese01 cheese2023 cheese2024 pepper12 pepper1234
pepper12345 pepper1! pepper123! pepper01 pepper2023 pepper2024 orange12 orange1234 orange12345
orange1! orange123! orange01 orange2023 orange2024 banana12 banana1234 banana12345 banana1!
banana123! banana01 banana2023 banana2024 apple1234 apple12345 apple123! apple2023 apple2024
summer12 summer1234 summer12345 summer1! summer123! summer01 winter12 winter123 winter1234
winter12345 winter1! winter123! winter01 spring12 spring123 spring1234 spring12345 spring1!
spring123! spring01 autumn12 autumn123 autumn1234 autumn12345 autumn1! autumn123! autumn01
autumn2024 secret1234 secret12345 secret1! secret123! secret01 secret2023 secret2024 access12
access1234 access12345 access1! access123! access01 access2023 access2024 killer12 killer1234
killer12345 killer1! killer123! killer01 killer2023 killer2024 hunter12 hunter1234 hunter12345
hunter1! hunter123! hunter01 hunter2023 hunter2024 ranger12 ranger1234 ranger12345 ranger1!
ranger123! ranger01 ranger2023 ranger2024 buster12 buster1234 buster12345 buster1! buster123!
buster01 buster2023 buster2024 tigger12 tigger1234 tigger12345 tigger1! tigger123! tigger01
tigger2023 tigger2024 soccer12 soccer1234 soccer12345 soccer1! soccer123! soccer01 soccer2023
soccer2024 hockey12 hockey1234 hockey12345 hockey1! hockey123! hockey01 hockey2023 hockey2024
thunder1 thunder12 thunder123 thunder1234 thunder12345 thunder! thunder1! thunder123! thunder01
thunder2023 thunder2024 maggie12 maggie123 maggie1234 maggie12345 maggie1! maggie123! maggie01
maggie2023 maggie2024 ginger12 ginger1234 ginger12345 ginger1! ginger123! ginger01 ginger2023
ginger2024 silver12 silver123 silver1234 silver12345 silver1! silver123! silver01 silver2023
silver2024 golden12 golden123 golden1234 golden12345 golden1! golden123! golden01 golden2023
golden2024 diamond1 diamond12 diamond123 diamond1234 diamond12345 diamond! diamond1! diamond123!
diamond01 diamond2023 diamond2024 purple12 purple123 purple1234 purple12345 purple1! purple123!
purple01 purple2023 purple2024 matrix12 matrix123 matrix1234 matrix12345 matrix1! matrix123!
matrix01 matrix2023 matrix2024 hacker12 hacker123 hacker1234 hacker12345 hacker1! hacker123!
hacker01 hacker2023 hacker2024 google12 google123 google1234 google12345 google1! google123!
google01 google2023 google2024 yellow12 yellow123 yellow1234 yellow12345 yellow1! yellow123!
yellow01 yellow2023 yellow2024 london12 london123 london1234 london12345 london1! london123!
london01 london2023 london2024 america1 america12 america123 america1234 america12345 america!
america1! america123! america01 america2023 america2024 chicago1 chicago12 chicago123
chicago1234 chicago12345 chicago! chicago1! chicago123! chicago01 chicago2023 chicago2024
dallas12 dallas123 dallas1234 dallas12345 dallas1! dallas123! dallas01 dallas2023 dallas2024
boston12 boston123 boston1234 boston12345 boston1! boston123! boston01 boston2023 boston2024
jackson1 jackson12 jackson123 jackson1234 jackson12345 jackson! jackson1! jackson123! jackson01
jackson2023 jackson2024 thomas12 thomas1234 thomas12345 thomas1! thomas123! thomas01 thomas2023
thomas2024 robert12 robert1234 robert12345 robert1! robert123! robert01 robert2023 robert2024
daniel12 daniel1234 daniel12345 daniel1! daniel123! daniel01 daniel2023 daniel2024 andrew123
andrew1234 andrew12345 andrew1! andrew123! andrew01 andrew2023 andrew2024 joshua12 joshua1234
joshua12345 joshua1! joshua123! joshua01 joshua2023 joshua2024 george12 george1234 george12345
george1! george123! george01 george2023 george2024 justin12 justin123 justin1234 justin12345
justin1! justin123! justin01 justin2023 justin2024 nicole12 nicole123 nicole1234 nicole12345
nicole1! nicole123! nicole01 nicole2023 nicole2024 amanda12 amanda123 amanda1234 amanda12345
amanda1! amanda123! amanda01 amanda2023 amanda2024 melissa1 melissa12 melissa123 melissa1234
melissa12345 melissa! melissa1! melissa123! melissa01 melissa2023 melissa2024 michelle1
michelle12 michelle123 michelle1234 michelle12345 michelle! michelle1! michelle123! michelle01
michelle2023 michelle2024 lauren12 lauren123 lauren1234 lauren12345 lauren1! lauren123! lauren01
lauren2023 lauren2024 hannah12 hannah123 hannah1234 hannah12345 hannah1! hannah123! hannah01
hannah2023 hannah2024 sophie12 sophie123 sophie1234 sophie12345 sophie1! sophie123! sophie01
sophie2023 sophie2024 oliver12 oliver123 oliver1234 oliver12345 oliver1! oliver123! oliver01
oliver2023 oliver2024 charlotte charlotte1 charlotte12 charlotte123 charlotte1234 charlotte12345
charlotte! charlotte1! charlotte123! charlotte01 charlotte2023 charlotte2024 snoopy12 snoopy123
snoopy1234 snoopy12345 snoopy1! snoopy123! snoopy01 snoopy2023 snoopy2024 mickey12 mickey123
mickey1234 mickey12345 mickey1! mickey123! mickey01 mickey2023 mickey2024 minnie12 minnie123
minnie1234 minnie12345 minnie1! minnie123! minnie01 minnie2023 minnie2024
"""


@cache
def _known() -> frozenset[str]:
    """The list, case-folded, built once."""
    return frozenset(word.casefold() for word in WORDS.split())


def is_common(password: str) -> bool:
    """Whether ``password`` is one of the most common passwords, ignoring letter case and outer spaces."""
    return password.strip().casefold() in _known()
