/*
 * contract.h — for the tests of the bridge's own records: the members an
 * encoder wrote against the JSON Schema of their contract. Include after
 * cmocka.h and jansson.h.
 */
#ifndef OB_TEST_CONTRACT_H
#define OB_TEST_CONTRACT_H

/* Every member of obj is in the schema's properties, and every required one is there. */
static inline void members_in_schema(const json_t *obj, const json_t *schema)
{
    const json_t *props = json_object_get(schema, "properties"), *req, *v;
    const char *name;
    size_t i;

    assert_non_null(props);
    json_object_foreach((json_t *)obj, name, v) {
        if (!json_object_get(props, name))
            fail_msg("member \"%s\" is not in the contract", name);
    }
    req = json_object_get(schema, "required");
    json_array_foreach(req, i, v) {
        if (!json_object_get(obj, json_string_value(v)))
            fail_msg("required member \"%s\" not written", json_string_value(v));
    }
}

#endif
