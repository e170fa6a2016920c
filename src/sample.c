/*
 * sample.c — realistic order.v1 documents for demo, tests and benchmarks.
 *
 * The document is written by hand (no jansson) in a fixed key order so that
 * it is byte-for-byte deterministic and cheap to produce. All randomness
 * comes from one splitmix64 stream seeded by (seed, index).
 */
#include "sample.h"

#include "order.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Deterministic randomness                                                  */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_init(struct rng *r, unsigned long seed, unsigned long index)
{
    r->s = (uint64_t)seed;
    r->s = rng_next(r) ^ ((uint64_t)index * 0xD1B54A32D192ED03ULL);
    (void)rng_next(r);
}

static unsigned below(struct rng *r, unsigned n)
{
    return (unsigned)(rng_next(r) % n);
}

static int chance(struct rng *r, unsigned percent)
{
    return below(r, 100) < percent;
}

#define PICK(r, table) ((table)[below((r), COUNT(table))])

/* ------------------------------------------------------------------------ */
/* JSON writer                                                               */

enum esc_mode {
    ESC_RAW,   /* UTF-8 as is: most producers */
    ESC_HTML,  /* Gson's default: < > & = ' as \u003c ... */
    ESC_ASCII, /* Python's ensure_ascii: everything above 0x7f as \uXXXX */
};

struct sb {
    char *buf;
    size_t len, cap;
    int oom;
    enum esc_mode esc;
    int depth;
    unsigned char comma[16];
};

static void sb_reserve(struct sb *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *n = realloc(b->buf, cap);
    if (!n) {
        b->oom = 1;
        return;
    }
    b->buf = n;
    b->cap = cap;
}

static void sb_putn(struct sb *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_putn(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_u(struct sb *b, unsigned cp)
{
    sb_printf(b, "\\u%04x", cp);
}

/* A JSON string literal; `s` is valid UTF-8. */
static void sb_str(struct sb *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    sb_putn(b, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        /* copy the longest run that needs no escaping in one go */
        while (*p >= 0x20 && *p != '"' && *p != '\\' &&
               !(b->esc == ESC_HTML && (*p == '<' || *p == '>' || *p == '&' || *p == '=' || *p == '\'')) &&
               !(b->esc == ESC_ASCII && *p >= 0x80))
            p++;
        if (p > run)
            sb_putn(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_putn(b, e, 2);
            p++;
        } else if (c == '\n') {
            sb_putn(b, "\\n", 2);
            p++;
        } else if (c == '\t') {
            sb_putn(b, "\\t", 2);
            p++;
        } else if (c < 0x80) {
            sb_u(b, c);
            p++;
        } else {
            /* ESC_ASCII: decode one UTF-8 sequence */
            unsigned cp, n;
            if (c >= 0xF0)
                cp = c & 0x07, n = 3;
            else if (c >= 0xE0)
                cp = c & 0x0F, n = 2;
            else
                cp = c & 0x1F, n = 1;
            p++;
            for (unsigned k = 0; k < n && *p; k++, p++)
                cp = (cp << 6) | (*p & 0x3F);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                sb_u(b, 0xD800 + (cp >> 10));
                sb_u(b, 0xDC00 + (cp & 0x3FF));
            } else {
                sb_u(b, cp);
            }
        }
    }
    sb_putn(b, "\"", 1);
}

static void sb_sep(struct sb *b)
{
    if (b->comma[b->depth])
        sb_putn(b, ",", 1);
    b->comma[b->depth] = 1;
}

static void sb_open(struct sb *b, char c)
{
    sb_putn(b, &c, 1);
    b->depth++;
    b->comma[b->depth] = 0;
}

static void sb_close(struct sb *b, char c)
{
    b->depth--;
    sb_putn(b, &c, 1);
}

static void sb_key(struct sb *b, const char *k)
{
    sb_sep(b);
    sb_putn(b, "\"", 1);
    sb_puts(b, k);
    sb_putn(b, "\":", 2);
}

static void kv_str(struct sb *b, const char *k, const char *v)
{
    sb_key(b, k);
    sb_str(b, v);
}

static void kv_int(struct sb *b, const char *k, long long v)
{
    sb_key(b, k);
    sb_printf(b, "%lld", v);
}

/* Money as a decimal string; `minimal` drops trailing zeros ("599", "1.5"). */
static void fmt_money(char *dst, size_t cap, int64_t fen, int minimal)
{
    const char *sign = fen < 0 ? "-" : "";
    uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    unsigned long long yuan = (unsigned long long)(a / 100);
    unsigned cents = (unsigned)(a % 100);
    if (!minimal)
        snprintf(dst, cap, "%s%llu.%02u", sign, yuan, cents);
    else if (cents == 0)
        snprintf(dst, cap, "%s%llu", sign, yuan);
    else if (cents % 10 == 0)
        snprintf(dst, cap, "%s%llu.%u", sign, yuan, cents / 10);
    else
        snprintf(dst, cap, "%s%llu.%02u", sign, yuan, cents);
}

static void kv_money(struct sb *b, const char *k, int64_t fen, int minimal)
{
    char t[32];
    fmt_money(t, sizeof t, fen, minimal);
    kv_str(b, k, t);
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */

static const char *const k_surnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
    "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯",
    "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋", "蔡", "欧阳", "司马", "诸葛",
};

static const char *const k_given[] = {
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰",
    "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "子涵", "梓萱", "浩然", "一诺",
    "欣怡", "宇轩", "雨桐", "思远", "嘉怡", "俊杰", "诗涵", "梦琪", "晨曦", "家豪", "佳怡",
    "文博", "志强",
};

/* Buyer nicknames that stress escaping: & < > " ' and emoji. */
static const char *const k_nicks[] = {
    "跑鞋控",     "小王🐱",       "Tom & Jerry",   "<script>alert('xss')</script>",
    "O'Brien",    "\"老铁\"666",  "🍉吃瓜群众",     "鞋控👟",
    "a&b<c>d",    "momo_2023",    "快乐的小熊",     "夜猫子🌙",
    "Lily.Chen",  "张大胖",       "買買買",         "不吃香菜",
    "星辰大海",   "user_88231",   "宝妈<二胎>",     "健身狂魔💪",
};

struct region {
    const char *province, *city, *postal;
    const char *districts[5];
};

static const struct region k_regions[] = {
    {"北京市", "北京市", "100", {"朝阳区", "海淀区", "东城区", "西城区", "丰台区"}},
    {"上海市", "上海市", "200", {"浦东新区", "闵行区", "徐汇区", "静安区", "黄浦区"}},
    {"天津市", "天津市", "300", {"和平区", "南开区", "河西区", "滨海新区"}},
    {"重庆市", "重庆市", "400", {"渝中区", "江北区", "沙坪坝区", "九龙坡区"}},
    {"广东省", "广州市", "510", {"天河区", "越秀区", "海珠区", "番禺区"}},
    {"广东省", "深圳市", "518", {"南山区", "福田区", "宝安区", "龙岗区"}},
    {"广东省", "东莞市", "523", {"南城街道", "东城街道", "长安镇", "虎门镇"}},
    {"浙江省", "杭州市", "310", {"西湖区", "余杭区", "滨江区", "拱墅区"}},
    {"浙江省", "宁波市", "315", {"海曙区", "鄞州区", "北仑区"}},
    {"江苏省", "南京市", "210", {"玄武区", "鼓楼区", "建邺区", "江宁区"}},
    {"江苏省", "苏州市", "215", {"姑苏区", "苏州工业园区", "吴中区", "昆山市"}},
    {"四川省", "成都市", "610", {"锦江区", "武侯区", "成华区", "青羊区"}},
    {"湖北省", "武汉市", "430", {"江汉区", "武昌区", "洪山区", "汉阳区"}},
    {"湖南省", "长沙市", "410", {"岳麓区", "芙蓉区", "天心区", "雨花区"}},
    {"陕西省", "西安市", "710", {"雁塔区", "碑林区", "未央区", "长安区"}},
    {"山东省", "济南市", "250", {"历下区", "市中区", "槐荫区"}},
    {"山东省", "青岛市", "266", {"市南区", "市北区", "崂山区", "黄岛区"}},
    {"福建省", "厦门市", "361", {"思明区", "湖里区", "集美区"}},
    {"福建省", "福州市", "350", {"鼓楼区", "台江区", "仓山区"}},
    {"河南省", "郑州市", "450", {"金水区", "二七区", "中原区", "管城回族区"}},
    {"河北省", "石家庄市", "050", {"长安区", "桥西区", "裕华区"}},
    {"辽宁省", "沈阳市", "110", {"和平区", "沈河区", "皇姑区"}},
    {"辽宁省", "大连市", "116", {"中山区", "西岗区", "沙河口区", "甘井子区"}},
    {"吉林省", "长春市", "130", {"朝阳区", "南关区", "绿园区"}},
    {"黑龙江省", "哈尔滨市", "150", {"道里区", "南岗区", "香坊区"}},
    {"安徽省", "合肥市", "230", {"蜀山区", "包河区", "庐阳区"}},
    {"江西省", "南昌市", "330", {"东湖区", "西湖区", "青山湖区"}},
    {"云南省", "昆明市", "650", {"五华区", "盘龙区", "官渡区"}},
    {"贵州省", "贵阳市", "550", {"南明区", "云岩区", "观山湖区"}},
    {"广西壮族自治区", "南宁市", "530", {"青秀区", "兴宁区", "西乡塘区"}},
    {"海南省", "海口市", "570", {"龙华区", "美兰区", "秀英区"}},
    {"山西省", "太原市", "030", {"小店区", "迎泽区", "杏花岭区"}},
    {"内蒙古自治区", "呼和浩特市", "010", {"新城区", "赛罕区", "回民区"}},
    {"新疆维吾尔自治区", "乌鲁木齐市", "830", {"天山区", "沙依巴克区", "水磨沟区"}},
    {"甘肃省", "兰州市", "730", {"城关区", "七里河区", "安宁区"}},
    {"宁夏回族自治区", "银川市", "750", {"兴庆区", "金凤区", "西夏区"}},
    {"青海省", "西宁市", "810", {"城东区", "城中区", "城西区"}},
    {"西藏自治区", "拉萨市", "850", {"城关区", "堆龙德庆区"}},
};

static const char *const k_roads[] = {
    "人民路", "中山路", "解放路", "建设路", "春申路", "南京东路", "长安街", "延安西路",
    "科技园南路", "文三路", "天府大道", "深南大道", "珠江新城华夏路", "五一大道", "北京路",
    "和平大街", "滨江大道", "学院路", "光谷大道", "软件园二期观日路", "东风路", "青年大街",
    "花园路", "金融街", "新华路", "迎宾大道", "湖滨路", "淮海中路", "望京街", "创业路",
};

static const char *const k_compounds[] = {
    "阳光花园", "万科城", "碧桂园", "保利中央公馆", "绿地世纪城", "融创壹号院", "龙湖春江郦城",
    "中海国际社区", "金地格林小镇", "华润橡树湾", "恒大名都", "世茂滨江花园", "招商雍华府",
    "翠湖天地", "锦绣江南", "幸福里", "新城国际 <B座>", "O'Connor 大厦 & 广场", "东方明珠苑",
    "\"智慧谷\" 创业园",
};

/* Mobile prefixes of the three carriers. */
static const char *const k_mobile[] = {
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "178", "180",
    "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199",
};

enum variant { V_NONE, V_SHOE, V_APPAREL };

struct product {
    const char *sku, *name;
    int64_t price; /* fen */
    enum variant variant;
};

static const struct product k_products[] = {
    {"SKE-12345", "D'LITES 复古老爹鞋", 59900, V_SHOE},
    {"SKE-SOCK-3P", "运动袜 3 双装", 4900, V_NONE},
    {"APL-IP15-128", "Apple iPhone 15 128GB 黑色", 599900, V_NONE},
    {"XM-BAND8", "小米手环 8 NFC版", 24900, V_NONE},
    {"HW-FB5", "华为 FreeBuds 5 无线耳机", 99900, V_NONE},
    {"YL-MILK-24", "伊利 纯牛奶 250ml×24盒", 6590, V_NONE},
    {"SZS-NUT-750", "三只松鼠 每日坚果 750g/30袋", 12900, V_NONE},
    {"MT-FT-500", "贵州茅台 飞天 53% 500ml", 149900, V_NONE},
    {"UNQ-TEE-U", "优衣库 U 系列 圆领T恤", 9900, V_APPAREL},
    {"NK-AF1", "Nike Air Force 1 \"07\" 空军一号", 74900, V_SHOE},
    {"LG-TV-55UQ", "LG 55寸 4K 电视 <旗舰款>", 349900, V_NONE},
    {"MJ-RICE-3L", "米家 IH 电饭煲 3L", 39900, V_NONE},
    {"DYS-V12", "戴森 V12 Detect Slim 吸尘器", 449000, V_NONE},
    {"PMP-DIAPER-L", "帮宝适 一级帮 纸尿裤 L码 52片", 16900, V_NONE},
    {"LOR-SERUM-50", "欧莱雅 复颜玻尿酸 精华 50ml", 32900, V_NONE},
    {"SK2-PITERA-230", "SK-II 神仙水 230ml", 154000, V_NONE},
    {"LEGO-42115", "乐高 机械组 兰博基尼 42115", 299900, V_NONE},
    {"ZYY-TEA-250", "张一元 茉莉花茶 250g", 8800, V_NONE},
    {"NTD-SW-OLED", "任天堂 Switch OLED 港版", 229900, V_NONE},
    {"LOGI-MXKEYS", "罗技 MX Keys 无线键盘", 69900, V_NONE},
    {"BK-SANTI-3", "三体 全集 (刘慈欣) 典藏版", 9390, V_NONE},
    {"TIDE-LIQ-3KG", "汰渍 洁净 洗衣液 3kg", 5990, V_NONE},
    {"NFSQ-550x24", "农夫山泉 饮用天然水 550ml×24", 2990, V_NONE},
    {"HR-AC-15P", "海尔 1.5匹 变频空调 挂机", 269900, V_NONE},
    {"ANTA-KT8", "安踏 KT8 篮球鞋", 89900, V_SHOE},
    {"LN-WOW10", "李宁 韦德之道 10 篮球鞋", 129900, V_SHOE},
    {"BSS-PB-20K", "倍思 20000mAh 充电宝", 12900, V_NONE},
    {"MUJI-GEL-05", "无印良品 凝胶中性笔 0.5mm 10支", 4500, V_NONE},
    {"BB-WIPES-10", "婴儿湿巾 80抽×10包 & 手口专用", 5990, V_NONE},
    {"YN-COFFEE-1K", "云南小粒咖啡豆 1kg", 13800, V_NONE},
    {"ICE-GIFT-12", "冰淇淋礼盒 🍦 12支装", 16800, V_NONE},
    {"BSD-DOWN-J", "波司登 羽绒服 短款", 119900, V_APPAREL},
};

static const char *const k_colors_code[] = {"BLK", "WHT", "RED", "BLU", "GRY", "GRN"};
static const char *const k_colors_name[] = {"黑", "白", "红", "蓝", "灰", "绿"};
static const char *const k_apparel_sizes[] = {"S", "M", "L", "XL", "XXL"};

static const char *const k_channels[] = {"tmall", "jd", "pdd", "douyin", "wechat", "website", "store"};

static const char *const k_shops[] = {
    "skechers-flagship", "anta-official", "lining-official", "xiaomi-store", "huawei-official",
    "uniqlo-official",   "three-squirrels", "yili-dairy",    "muji-cn",      "lego-official",
    "dyson-official",    "bosideng-flagship",
};

static const char *const k_pay_methods[] = {"alipay", "wechatpay", "unionpay", "jdpay", "douyinpay", "credit_card"};
static const char *const k_carriers[] = {"SF", "ZTO", "YTO", "STO", "YUNDA", "JD", "EMS", "JTEXPRESS"};

static const char *const k_remarks[] = {
    "请勿放快递柜",
    "双11 预售尾款 & <请勿> 放快递柜",
    "送给\"老婆\"的生日礼物, 不要放发票",
    "别写'礼物'字样 😊",
    "🎁 生日礼物, 包装好一点",
    "工作日 9:00-18:00 送达, 周末家里没人",
    "到了打电话, 门卫不让进",
    "<加急> 客户催单 3 次",
    "发票抬头: 上海某某科技有限公司 & 税号 91310000MA1FL0000X",
    "地址是新小区, 导航搜 \"春申路 1 号\"",
    "谢谢老板 👍👍👍",
    "缺货请联系, 不要替换",
    "Please deliver after 6pm, thanks!",
    "门口放着就行",
    "尺码偏小的话帮忙换大一码 >_<",
    "老客户了, 多送点小样 ^_^",
};

/* Pieces of long remarks (each ends in a natural break). */
static const char *const k_remark_parts[] = {
    "请仔细核对尺码与颜色，",
    "如有缺货请先电话联系我 & 不要擅自替换商品；",
    "<重要> 收件人白天上班，",
    "可以放在\"丰巢\"快递柜，",
    "O'Neil 先生代收也可以，",
    "🚚📦 谢谢快递师傅辛苦了！",
    "上次的订单包装破损，这次麻烦多缠几圈胶带。",
    "Order note: handle with care. ",
    "小区东门进，3 号楼在最里面，",
    "宝宝在睡觉，请不要按门铃 🙏",
};

/* ------------------------------------------------------------------------ */
/* Pieces of an order                                                        */

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A long remark of exactly `target` code points (<= 1024). */
static void long_remark(struct rng *r, char *dst, size_t cap, size_t target)
{
    size_t cps = 0, len = 0;
    dst[0] = '\0';
    for (;;) {
        const char *part = PICK(r, k_remark_parts);
        size_t pc = utf8_count(part), pl = strlen(part);
        if (cps + pc > target || len + pl + 1 > cap)
            break;
        memcpy(dst + len, part, pl + 1);
        len += pl;
        cps += pc;
    }
    /* pad with "。" (one code point, three bytes) up to the target */
    while (cps < target && len + 4 <= cap) {
        memcpy(dst + len, "。", 4);
        len += 3;
        cps++;
    }
}

static void person_name(struct rng *r, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s%s", PICK(r, k_surnames), PICK(r, k_given));
}

static void mobile(struct rng *r, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s%08u", PICK(r, k_mobile), below(r, 100000000));
}

/* EAN-13 with the Chinese "69" prefix and a correct check digit. */
static void barcode(struct rng *r, char *dst)
{
    int sum = 0;
    dst[0] = '6';
    dst[1] = '9';
    for (int i = 2; i < 12; i++)
        dst[i] = (char)('0' + below(r, 10));
    for (int i = 0; i < 12; i++)
        sum += (dst[i] - '0') * (i % 2 ? 3 : 1);
    dst[12] = (char)('0' + (10 - sum % 10) % 10);
    dst[13] = '\0';
}

struct stamp {
    int year, month, day, hour, minute, second, millis;
};

static int month_days(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

/* style 0: +08:00, 1: .mmm+08:00, 2: Z */
static void fmt_stamp(char *dst, size_t cap, const struct stamp *t, int style)
{
    if (style == 1)
        snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+08:00", t->year, t->month, t->day, t->hour,
                 t->minute, t->second, t->millis);
    else
        snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d%s", t->year, t->month, t->day, t->hour, t->minute,
                 t->second, style == 2 ? "Z" : "+08:00");
}

struct gen_opts {
    const char *order_id;  /* NULL: leave the field out */
    const char *schema;    /* "order.v1" */
    int float_price;       /* first unit_price as a JSON number */
    int gbk_remark;        /* remark in GBK bytes (not UTF-8) */
    int html_escape_force; /* -1: choose, else an esc_mode */
};

struct line {
    const struct product *p;
    char sku[48], name[160], barcode[16];
    int quantity;
    int64_t unit, discount;
    int has_barcode;
};

static char *generate(struct rng *r, const struct gen_opts *o, const char *warehouse, size_t *len_out)
{
    struct sb b = {0};
    char t[4 * 1024 + 64], t2[128];
    struct line lines[5];
    int minimal_money = chance(r, 10);
    unsigned e;

    e = below(r, 100);
    b.esc = o->html_escape_force >= 0 ? (enum esc_mode)o->html_escape_force
            : e < 75                  ? ESC_RAW
            : e < 88                  ? ESC_HTML
                                      : ESC_ASCII;
    sb_reserve(&b, 2048);
    sb_open(&b, '{');

    kv_str(&b, "schema", o->schema);

    /* Every sample is a new order: updates and cancellations only make
     * sense after the creation of the same order_id. */
    kv_str(&b, "event", "order.created");
    if (o->order_id)
        kv_str(&b, "order_id", o->order_id);
    kv_int(&b, "revision", 1);

    /* channel and shop */
    if (chance(r, 95)) {
        unsigned c = below(r, 100);
        /* weighted: tmall, jd, pdd, douyin lead */
        const char *ch = c < 30 ? "tmall" : c < 52 ? "jd" : c < 68 ? "pdd" : c < 82 ? "douyin" : PICK(r, k_channels);
        kv_str(&b, "channel", ch);
        if (chance(r, 90))
            kv_str(&b, "shop_id", PICK(r, k_shops));
    }

    /* created_at */
    struct stamp ts;
    ts.year = 2023 + (int)below(r, 2);
    ts.month = 1 + (int)below(r, 12);
    ts.day = 1 + (int)below(r, (unsigned)month_days(ts.year, ts.month));
    ts.hour = (int)below(r, 24);
    ts.minute = (int)below(r, 60);
    ts.second = (int)below(r, 60);
    ts.millis = (int)below(r, 1000);
    unsigned st = below(r, 100);
    int style = st < 60 ? 0 : st < 85 ? 1 : 2;
    fmt_stamp(t, sizeof t, &ts, style);
    kv_str(&b, "created_at", t);

    if (warehouse)
        kv_str(&b, "warehouse", warehouse);

    /* priority: "normal" is often left to the default */
    unsigned pr = below(r, 100);
    const char *priority = pr < 70 ? "normal" : pr < 90 ? "express" : "presale";
    if (pr >= 35)
        kv_str(&b, "priority", priority);

    /* recipient first: the buyer often is the recipient */
    char rname[64], rphone[16];
    person_name(r, rname, sizeof rname);
    mobile(r, rphone, sizeof rphone);

    if (chance(r, 90)) {
        sb_key(&b, "buyer");
        sb_open(&b, '{');
        snprintf(t2, sizeof t2, "u-%06u", below(r, 1000000));
        kv_str(&b, "id", t2);
        if (chance(r, 40))
            kv_str(&b, "nick", PICK(r, k_nicks));
        else
            kv_str(&b, "nick", rname);
        if (chance(r, 60)) {
            kv_str(&b, "phone", rphone);
        } else {
            mobile(r, t2, sizeof t2);
            kv_str(&b, "phone", t2);
        }
        if (chance(r, 30)) {
            snprintf(t2, sizeof t2, "%u@%s", 10000 + below(r, 2000000000u),
                     chance(r, 70) ? "qq.com" : "163.com");
            kv_str(&b, "email", t2);
        }
        sb_close(&b, '}');
    }

    /* shipping_address */
    const struct region *reg = &PICK(r, k_regions);
    unsigned nd = 0;
    while (nd < COUNT(reg->districts) && reg->districts[nd])
        nd++;
    sb_key(&b, "shipping_address");
    sb_open(&b, '{');
    kv_str(&b, "name", rname);
    kv_str(&b, "phone", rphone);
    if (chance(r, 70))
        kv_str(&b, "country", "CN");
    kv_str(&b, "province", reg->province);
    kv_str(&b, "city", reg->city);
    if (chance(r, 95))
        kv_str(&b, "district", reg->districts[below(r, nd)]);
    if (chance(r, 50))
        snprintf(t, sizeof t, "%s %u 号 %s %u 栋 %u 单元 %u", PICK(r, k_roads), 1 + below(r, 999), PICK(r, k_compounds),
                 1 + below(r, 30), 1 + below(r, 6), 101 + below(r, 30) * 100 + below(r, 4));
    else
        snprintf(t, sizeof t, "%s%u号%s%u-%u-%u", PICK(r, k_roads), 1 + below(r, 999), PICK(r, k_compounds),
                 1 + below(r, 30), 1 + below(r, 6), 101 + below(r, 30) * 100 + below(r, 4));
    kv_str(&b, "street", t);
    if (chance(r, 80)) {
        snprintf(t2, sizeof t2, "%s%02u0", reg->postal, below(r, 100));
        kv_str(&b, "postal_code", t2);
    }
    sb_close(&b, '}');

    /* items: 1-5 distinct products */
    unsigned nr = below(r, 100);
    int n = nr < 50 ? 1 : nr < 75 ? 2 : nr < 88 ? 3 : nr < 95 ? 4 : 5;
    int64_t goods = 0, line_discounts = 0;
    for (int i = 0; i < n; i++) {
        struct line *l = &lines[i];
        int dup;
        do {
            l->p = &PICK(r, k_products);
            dup = 0;
            for (int k = 0; k < i; k++)
                dup |= lines[k].p == l->p;
        } while (dup);
        unsigned ci = below(r, COUNT(k_colors_code));
        if (l->p->variant == V_SHOE) {
            unsigned size = 36 + below(r, 10);
            snprintf(l->sku, sizeof l->sku, "%s-%s-%u", l->p->sku, k_colors_code[ci], size);
            snprintf(l->name, sizeof l->name, "%s %s %u", l->p->name, k_colors_name[ci], size);
        } else if (l->p->variant == V_APPAREL) {
            const char *size = PICK(r, k_apparel_sizes);
            snprintf(l->sku, sizeof l->sku, "%s-%s-%s", l->p->sku, k_colors_code[ci], size);
            snprintf(l->name, sizeof l->name, "%s %s %s", l->p->name, k_colors_name[ci], size);
        } else {
            snprintf(l->sku, sizeof l->sku, "%s", l->p->sku);
            snprintf(l->name, sizeof l->name, "%s", l->p->name);
        }
        l->has_barcode = chance(r, 70);
        if (l->has_barcode)
            barcode(r, l->barcode);
        unsigned q = below(r, 100);
        l->quantity = q < 70 ? 1 : q < 95 ? 2 + (int)below(r, 2) : (l->p->price < 10000 ? 4 + (int)below(r, 9) : 4);
        l->unit = l->p->price;
        if (chance(r, 30)) /* promotion: 85 %, rounded down to 10 fen */
            l->unit = l->unit * 85 / 100 / 10 * 10;
        l->discount = 0;
        if (chance(r, 25)) {
            int64_t total = l->unit * l->quantity;
            l->discount = total * (5 + below(r, 16)) / 100 / 100 * 100; /* whole yuan */
            if (l->discount >= total)
                l->discount = 0;
        }
        goods += l->unit * l->quantity;
        line_discounts += l->discount;
    }
    sb_key(&b, "items");
    sb_open(&b, '[');
    for (int i = 0; i < n; i++) {
        struct line *l = &lines[i];
        sb_sep(&b);
        sb_open(&b, '{');
        kv_int(&b, "line_no", i + 1);
        kv_str(&b, "sku", l->sku);
        if (l->has_barcode)
            kv_str(&b, "barcode", l->barcode);
        kv_str(&b, "name", l->name);
        kv_int(&b, "quantity", l->quantity);
        if (i == 0 && o->float_price) {
            sb_key(&b, "unit_price");
            sb_printf(&b, "%lld.0", (long long)(l->unit / 100));
        } else {
            kv_money(&b, "unit_price", l->unit, minimal_money);
        }
        if (l->discount)
            kv_money(&b, "discount", l->discount, minimal_money);
        sb_close(&b, '}');
    }
    sb_close(&b, ']');

    /* amounts: paid = goods - discount + shipping */
    int64_t coupon = 0, shipping;
    if (goods - line_discounts >= 10000 && chance(r, 25)) {
        static const int64_t coupons[] = {500, 1000, 2000, 3000, 5000};
        coupon = coupons[below(r, COUNT(coupons))];
        if (coupon > goods - line_discounts)
            coupon = 0;
    }
    int64_t discount = line_discounts + coupon;
    shipping = goods - discount >= 9900 ? 0 : 600 + 200 * (int64_t)below(r, 3);
    if (pr >= 70 && pr < 90 && chance(r, 50)) /* express surcharge */
        shipping += 1200;
    int64_t paid = goods - discount + shipping;
    sb_key(&b, "amounts");
    sb_open(&b, '{');
    if (chance(r, 85))
        kv_str(&b, "currency", "CNY");
    if (chance(r, 95))
        kv_money(&b, "goods", goods, minimal_money);
    if (shipping || chance(r, 90))
        kv_money(&b, "shipping", shipping, minimal_money);
    if (discount || chance(r, 50))
        kv_money(&b, "discount", discount, minimal_money);
    kv_money(&b, "paid", paid, minimal_money);
    sb_close(&b, '}');

    /* payment */
    if (chance(r, 85)) {
        struct stamp pt = ts;
        int add = 2 + (int)below(r, 1800);
        pt.second += add;
        pt.minute += pt.second / 60;
        pt.second %= 60;
        pt.hour += pt.minute / 60;
        pt.minute %= 60;
        if (pt.hour > 23)
            pt.hour = 23, pt.minute = 59, pt.second = 59;
        sb_key(&b, "payment");
        sb_open(&b, '{');
        kv_str(&b, "method", PICK(r, k_pay_methods));
        fmt_stamp(t2, sizeof t2, &pt, style == 1 ? 0 : style);
        kv_str(&b, "paid_at", t2);
        snprintf(t2, sizeof t2, "%04d%02d%02d22%06u%08u", ts.year, ts.month, ts.day, below(r, 1000000),
                 below(r, 100000000));
        kv_str(&b, "transaction_id", t2);
        sb_close(&b, '}');
    }

    /* logistics */
    if (chance(r, 80)) {
        sb_key(&b, "logistics");
        sb_open(&b, '{');
        const char *carrier = PICK(r, k_carriers);
        kv_str(&b, "carrier", carrier);
        if (pr >= 70 && pr < 90) {
            unsigned s = below(r, 3);
            kv_str(&b, "service", s == 0 ? "express" : s == 1 ? "next_morning" : "same_day");
        } else if (chance(r, 80)) {
            kv_str(&b, "service", "standard");
        }
        sb_close(&b, '}');
    }

    /* remark */
    if (o->gbk_remark) {
        /* "张三 请勿放快递柜" as a GBK producer would send it */
        sb_key(&b, "remark");
        sb_puts(&b, "\"\xd5\xc5\xc8\xfd \xc7\xeb\xce\xf0\xb7\xc5\xbf\xec\xb5\xdd\xb9\xf1\"");
    } else {
        unsigned rm = below(r, 100);
        if (rm < 8) {
            size_t target = chance(r, 40) ? 1024 : 200 + below(r, 824);
            long_remark(r, t, sizeof t, target);
            kv_str(&b, "remark", t);
        } else if (rm < 55) {
            kv_str(&b, "remark", PICK(r, k_remarks));
        }
    }

    sb_close(&b, '}');
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    if (len_out)
        *len_out = b.len;
    return b.buf;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

char *ob_sample_order(unsigned long seed, unsigned long index, const char *warehouse, size_t *len)
{
    struct rng r;
    char id[64];
    struct gen_opts o = {id, "order.v1", 0, 0, -1};
    snprintf(id, sizeof id, "DEMO-%lu-%08lu", seed, index);
    rng_init(&r, seed, index);
    return generate(&r, &o, warehouse, len);
}

char *ob_sample_malformed(unsigned long index, size_t *len, const char **kind)
{
    static const char *const kinds[OB_SAMPLE_MALFORMED_KINDS] = {
        "invalid_json", "missing_order_id", "float_money", "not_utf8", "empty", "wrong_schema",
    };
    static const char *const bad_schemas[] = {"order.v2", "order.v0", "Order.v1", "order"};
    unsigned k = (unsigned)(index % OB_SAMPLE_MALFORMED_KINDS);
    unsigned long round = index / OB_SAMPLE_MALFORMED_KINDS;
    struct rng r;
    char id[64];
    struct gen_opts o = {id, "order.v1", 0, 0, -1};
    size_t n = 0;
    char *doc;

    if (kind)
        *kind = kinds[k];
    if (len)
        *len = 0;
    snprintf(id, sizeof id, "BAD-%08lu", index);
    rng_init(&r, 0xBADB0A7UL, index);

    switch (k) {
    case 4: /* empty */
        doc = malloc(1);
        if (doc)
            doc[0] = '\0';
        return doc;
    case 1:
        o.order_id = NULL;
        break;
    case 2:
        o.float_price = 1;
        break;
    case 3:
        o.gbk_remark = 1;
        o.html_escape_force = ESC_RAW;
        break;
    case 5:
        o.schema = bad_schemas[round % COUNT(bad_schemas)];
        break;
    default:
        o.html_escape_force = ESC_ASCII; /* keeps every cut on a character boundary */
        break;
    }
    doc = generate(&r, &o, NULL, &n);
    if (!doc)
        return NULL;

    if (k == 0) {
        /* four everyday ways of breaking JSON */
        switch (round % 4) {
        case 0: /* truncated, as by a producer that gave up mid-write */
            n = n * 2 / 3;
            doc[n] = '\0';
            break;
        case 1: { /* trailing comma */
            char *more = realloc(doc, n + 2);
            if (!more) {
                free(doc);
                return NULL;
            }
            doc = more;
            doc[n - 1] = ',';
            doc[n++] = '}';
            doc[n] = '\0';
            break;
        }
        case 2: { /* two documents back to back */
            char *two = realloc(doc, 2 * n + 1);
            if (!two) {
                free(doc);
                return NULL;
            }
            doc = two;
            memcpy(doc + n, doc, n);
            n *= 2;
            doc[n] = '\0';
            break;
        }
        default: { /* a duplicate key (rejected: which one would win?) */
            static const char dup[] = "{\"order_id\":\"BAD-DUP\",";
            char *two = malloc(n + sizeof dup);
            if (!two) {
                free(doc);
                return NULL;
            }
            memcpy(two, dup, sizeof dup - 1);
            memcpy(two + sizeof dup - 1, doc + 1, n); /* includes the NUL */
            free(doc);
            doc = two;
            n += sizeof dup - 2;
            break;
        }
        }
    }
    if (len)
        *len = n;
    return doc;
}

int ob_sample_has_district(const char *doc, size_t len)
{
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;
    int has = 0;

    if (ob_order_parse_lean(doc, len, 1 << 20, &po, &problem) == 0)
        has = po->order.shipping_address.district != NULL;
    ob_order_free(po);
    return has;
}
